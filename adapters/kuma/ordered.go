package kuma

import "matrix-notify/adapters/liquidjs"

// decodeObject decodes a heartbeat or monitor object into the value handed
// to templates: a *liquidjs.Object, which keeps the payload's key order so
// that Liquid's json filter prints the object as Kuma would. Tests may swap
// it.
var decodeObject = liquidjs.DecodeJSON
