#!/usr/bin/env node
// The LiquidJS oracle for adapters/liquidjs.
//
// Renders Liquid templates with the npm package liquidjs at the version Uptime
// Kuma pins (~10.26.0, see package.json), configured exactly as Kuma's
// renderTemplate does, so that the Go engine can be compared with it.
//
// Input on stdin, either one JSON document
//     {"cases": [{"name": "...", "template": "...", "context": {...},
//                 "tz": "Europe/Paris", "now": "2026-11-23T15:04:05.678Z"}]}
// or JSON lines, one case object per line. "tz" defaults to UTC; "now" (an
// RFC 3339 string or milliseconds since the epoch) defaults to the real clock.
//
// Output on stdout: {"results": [{"name": "...", "output": "..."}]} in the
// order of the input; a case that fails to parse or render has "error"
// (the LiquidJS message) instead of "output".
//
// Time zone: LiquidJS formats dates in the process's local zone, as Kuma does.
// Node (>= 13) re-reads the zone when process.env.TZ is assigned, so the
// script sets it before each case.
//
// Fixed "now": LiquidJS's "now"/"today" call Date.now(). The script replaces
// the global Date with a subclass whose Date.now() and argument-less
// constructor return the case's "now", and which behaves as Date otherwise.
//
// Locale: month and day names come from Intl in the process's default locale;
// the script pins it to en-US (as in Kuma's usual C/en_US environment) by
// clearing LC_ALL/LC_MESSAGES/LANG before anything calls Intl. Names in other
// locales are out of scope for the Go engine, which is English-only.
'use strict'

for (const k of ['LC_ALL', 'LC_MESSAGES', 'LANG']) delete process.env[k]
process.env.TZ = 'UTC'

const RealDate = Date
let fixedNow = null
class FakeDate extends RealDate {
  constructor (...args) {
    if (args.length === 0 && fixedNow !== null) super(fixedNow)
    else super(...args)
  }

  static now () {
    return fixedNow !== null ? fixedNow : RealDate.now()
  }
}
globalThis.Date = FakeDate

const { Liquid } = require('liquidjs')

function readStdin () {
  return require('fs').readFileSync(0, 'utf8')
}

function parseInput (text) {
  const trimmed = text.trim()
  if (trimmed === '') return []
  try {
    const doc = JSON.parse(trimmed)
    if (Array.isArray(doc)) return doc
    if (doc && Array.isArray(doc.cases)) return doc.cases
    return [doc]
  } catch (e) {
    return trimmed.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
  }
}

function nowMillis (now) {
  if (now === undefined || now === null) return null
  if (typeof now === 'number') return now
  const ms = RealDate.parse(now)
  if (isNaN(ms)) throw new Error(`bad "now": ${now}`)
  return ms
}

async function renderCase (c) {
  process.env.TZ = c.tz || 'UTC'
  fixedNow = nowMillis(c.now)
  // Exactly Kuma's engine (server/notification-providers/notification-provider.js):
  // a new engine per render, no strictness, no escaping, no custom filters.
  const engine = new Liquid({
    root: './no-such-directory-uptime-kuma',
    relativeReference: false,
    dynamicPartials: false
  })
  try {
    const tpl = engine.parse(c.template)
    const output = await engine.render(tpl, c.context || {})
    return { name: c.name, output: String(output) }
  } catch (e) {
    return { name: c.name, error: String(e && e.message ? e.message : e) }
  }
}

async function main () {
  const cases = parseInput(readStdin())
  const results = []
  for (const c of cases) results.push(await renderCase(c))
  process.stdout.write(JSON.stringify({ liquidjs: require('liquidjs/package.json').version, results }) + '\n')
}

main().catch(e => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n')
  process.exit(1)
})
