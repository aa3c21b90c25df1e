package kuma

// decodeObject decodes a heartbeat or monitor object into the value handed
// to templates: a *liquidjs.Object, which keeps the payload's key order so
// that Liquid's json filter prints the object as Kuma would. It is
// liquidjs.DecodeJSON's result, got with this package's reader, which is
// several times cheaper than DecodeJSON's token stream (FuzzReader checks
// that they agree). Tests may swap it.
var decodeObject = func(text []byte) (any, error) { return decodeValue(text, true) }
