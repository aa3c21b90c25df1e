#!/usr/bin/env node
// Uptime Kuma's own renderTemplate, for adapters/kuma's real-peer test
// (TestKumaSourceRenderTemplate).
//
// Usage: node kuma-render.js KUMA_SRC STUB_DIR < cases.json
//
// KUMA_SRC holds Kuma's source files (scripts/kuma-source.sh extracts them):
// server/notification-providers/notification-provider.js and src/util.js,
// loaded unmodified. The script calls that file's
// NotificationProvider.prototype.renderTemplate, so the context (name, status,
// hostnameOrURL from its extractAddress, monitorJSON, heartbeatJSON, msg) and
// the LiquidJS engine options are Kuma's own.
//
// Module resolution (a require hook; Kuma's files are not edited):
//   - "liquidjs" is this directory's node_modules/liquidjs, the npm package at
//     Kuma's pinned version, wherever KUMA_SRC is;
//   - a bare module NAME with a file STUB_DIR/NAME.js is that file. The test
//     stubs the modules Kuma's two files require at load but renderTemplate
//     never uses (the proxy agents, dayjs, jsonata); any other module Kuma's
//     files require makes the script fail, naming it.
//
// Input on stdin: {"cases": [{"name": "...", "template": "...", "msg": "...",
// "monitor": {...} or null, "heartbeat": {...} or null}]}; monitor and
// heartbeat are what Kuma passes as monitorJSON and heartbeatJSON (null for
// the Test notification).
//
// Output on stdout: {"liquidjs": VERSION, "stubbed": [...], "results":
// [{"name": "...", "output": "..."}]} in the input's order; a case that fails
// has "error" instead of "output".
'use strict'

for (const k of ['LC_ALL', 'LC_MESSAGES', 'LANG']) delete process.env[k]
process.env.TZ = 'UTC'

const fs = require('fs')
const path = require('path')
const Module = require('module')

const [kumaSrc, stubDir] = process.argv.slice(2)
if (!kumaSrc || !stubDir) {
  process.stderr.write('usage: node kuma-render.js KUMA_SRC STUB_DIR < cases.json\n')
  process.exit(2)
}

const liquidjsPath = require.resolve('liquidjs')
const stubbed = new Set()
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'liquidjs') return liquidjsPath
  if (/^[a-z@][\w@./-]*$/.test(request) && !request.startsWith('.')) {
    const stub = path.join(stubDir, request + '.js')
    if (fs.existsSync(stub)) {
      stubbed.add(request)
      return stub
    }
  }
  return resolve.call(this, request, parent, ...rest)
}

const NotificationProvider = require(path.resolve(kumaSrc, 'server', 'notification-providers', 'notification-provider.js'))

async function main () {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'))
  const provider = new NotificationProvider()
  const results = []
  for (const c of input.cases) {
    try {
      const output = await provider.renderTemplate(c.template, c.msg, c.monitor, c.heartbeat)
      results.push({ name: c.name, output: String(output) })
    } catch (e) {
      results.push({ name: c.name, error: String(e && e.message ? e.message : e) })
    }
  }
  process.stdout.write(JSON.stringify({
    liquidjs: require('liquidjs/package.json').version,
    stubbed: [...stubbed].sort(),
    results
  }) + '\n')
}

main().catch(e => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n')
  process.exit(1)
})
