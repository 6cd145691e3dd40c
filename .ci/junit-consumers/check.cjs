// Reads an evalgate JUnit file the way GitHub's two JUnit actions read it, and fails (exit 1) when
// what they would show is wrong: a NaN or missing time, a failing testcase whose displayed text
// lacks the reason, expected value or output, counts that differ from evalgate's results file, or
// a classname they would resolve to a file of this repository and pin annotations to.
//
//     NODE_PATH=... node .ci/junit-consumers/check.cjs JUNIT_FILE RESULTS_FILE
//
// Run from the repository's root by .ci/run, with the packages of package.json: the XML parsers
// and glob the actions use, at the versions their package.json asks for. Neither action is on npm
// and their code stays out of this repository, so these are models written from reading their
// source, not copies. What each follows (commits as named by the reference index they were read in):
//
// - dorny/test-reporter, the `java-junit` reporter:
//   src/parsers/java-junit/java-junit-parser.ts at 21ae91ed3c4ad5011eb71977a88053d982ed8e4e:
//   xml2js `parseStringPromise` with default options; a suite's time is `parseFloat(time) * 1000`
//   (NaN when absent: "NaNms"), a testcase's too; a testcase whose classname differs from its
//   suite's name goes in a group of that name; `<failure>` before `<error>`, the first one only;
//   its text is the details and `TYPE: MESSAGE` the message (at 035c1f9d2157707e9759b5973afb45c2d525f5d5,
//   v1, the message was read from the wrong field and the details' first line showed instead);
//   lines of the details shaped `at PKG.Class(FILE:LINE)` (java-stack-trace-element-parser.ts at
//   3a48f6e045f032fd644b85e24cda3d066a0cb6db: leading whitespace allowed) pin the annotation to a
//   tracked file named FILE whose folders end in PKG's lowercase parts. src/test-results.ts at
//   0a09b8be9132cfe765044ddb2fa3e20e71b092d7: counts from testcases (failure or error = failed).
//   src/report/get-report.ts at 062ee6fab40c366c6ebac978bf552ad9d8d78edf: the message, else the
//   details' first line, under each failed test; src/report/get-annotations.ts at
//   411cf3d74bd26833a68be33b248148a2aee6b16a: an annotation shows the message and the details.
//   package.json at 027ace45324f5e3500ef02f3e5ad244126a22b28: xml2js ^0.6.2.
// - mikepenz/action-junit-report v5: src/testParser.ts, the newest version the index holds (ESM,
//   with `resolveIgnoreClassname` and one annotation per <failure>; the index gave no commit for
//   it; its file resolution is that of 378fbe7568f5971c5d91ccfbdf40e3ee04116977 plus the two
//   `existsSync` tries and the workspace prefix): xml-js `xml2json(data, {compact: true})`; a
//   testcase's time `parseFloat(time)`, 0 when absent; failed = `<failure>` or `<error>` and not
//   skipped; passed = total - failed - skipped; message = the failure's or error's `message`,
//   else the text's first two lines; raw_details = the text (`_cdata` or `_text`), trimmed; the
//   file is the `file` attribute, else the classname's text after its last `.` (or a `*.rs` path
//   that the text shows next to it), tried with `fs.existsSync(FILE)`, then
//   `existsSync(WORKSPACE + FILE)`, then the glob `WORKSPACE/**/FILE.*` (@actions/glob, symlinks
//   not followed, paths with /build/ or /__pycache__/ left out). src/annotator.ts, src/table.ts:
//   the check run's title and the summary tables show those counts and annotations.
//   package.json at 003ba2999c85dc000fe8c296788cef805444bdef (5.3.0): xml-js ^1.6.11, @actions/glob ^0.5.0.
'use strict'

const fs = require('fs')
const path = require('path')
const {execFileSync} = require('child_process')
const xmljs = require('xml-js')
const xml2js = require('xml2js')
const glob = require('@actions/glob')

// @actions/core, under @actions/glob, writes its debug lines to stdout as workflow commands.
const write = process.stdout.write.bind(process.stdout)
process.stdout.write = (chunk, ...rest) => (String(chunk).startsWith('::debug::') ? true : write(chunk, ...rest))

const problems = []
function problem(reporter, text) {
  problems.push(`${reporter}: ${text}`)
}

// Text as evalgate writes it into XML: no ANSI escape sequences, no control characters but line
// breaks and tabs (src/support/text.rs `sanitize_for_log`), so expectations compare alike.
function visible(text) {
  return String(text)
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '')
}

function firstLine(text) {
  const line = visible(text)
    .split(/\r?\n/)
    .find(l => l.trim() !== '')
  return (line ?? '').trim().slice(0, 120)
}

function asArray(x) {
  return x === undefined ? [] : Array.isArray(x) ? x : [x]
}

// Whether `text` says each of `wanted` ([what, text] pairs of expectedTexts). The expected value
// and the output must appear outside the reasons and errors, which often quote them.
function lacking(text, wanted) {
  let rest = text
  for (const [what, t] of wanted) if (what === 'reason' || what === 'error') rest = rest.split(t).join('')
  return wanted.filter(([what, t]) => !(what === 'reason' || what === 'error' ? text : rest).includes(t))
}

// What a failing testcase's text must say, from the results file: per failed or errored repeat
// the reasons of its failing checks or its error, the first line of its output, and the expected
// value's first line.
function expectedTexts(results, cell, caseId) {
  const calls = results.results.filter(c => c.cell === cell && c.case_id === caseId && !c.passed)
  const texts = []
  for (const call of calls) {
    if (call.error) texts.push(['error', firstLine(call.error)])
    for (const check of call.checks.filter(k => !k.passed)) texts.push(['reason', firstLine(check.reason)])
    if (call.output) texts.push(['output', firstLine(call.output)])
  }
  const expected = calls[0]?.expected
  if (expected !== undefined && expected !== null) {
    texts.push(['expected', firstLine(typeof expected === 'string' ? expected : JSON.stringify(expected))])
  }
  return texts.filter(([, t]) => t !== '')
}

// The suite's cell (`PROMPT/MODEL`) from its properties, or 'gate' for the gate suite.
function suiteKind(properties) {
  const props = Object.fromEntries(properties.map(p => [p.name, p.value]))
  if (props.verdict !== undefined) return 'gate'
  if (props.prompt !== undefined && props.model !== undefined) return `${props.prompt}/${props.model}`
  return undefined
}

// What evalgate's results say each suite must count.
function expectedCounts(results) {
  const removed = (results.comparison?.cases ?? []).filter(c => c.change === 'removed')
  const counts = new Map()
  const rules = results.verdict.rules
  counts.set('gate', {
    tests: rules.length,
    failed: rules.filter(r => r.status !== 'pass').length,
    skipped: 0,
    passed: rules.filter(r => r.status === 'pass').length
  })
  for (const cell of results.cells) {
    const s = cell.summary
    const skipped = removed.filter(c => c.cell === cell.id).length
    const entry = {tests: s.cases + skipped, skipped}
    // With one call per case, calls and cases count alike.
    if (s.calls === s.cases) {
      entry.failed = s.failed + s.errored
      entry.passed = s.passed
    }
    counts.set(cell.id, entry)
  }
  return counts
}

function compareCounts(reporter, kind, got, want) {
  for (const key of Object.keys(want)) {
    if (got[key] !== want[key]) {
      problem(reporter, `suite ${kind}: ${key} is ${got[key]}, evalgate's results say ${want[key]}`)
    }
  }
}

async function dorny(xml, results, tracked) {
  const who = 'dorny/test-reporter'
  const doc = await xml2js.parseStringPromise(xml)
  if (doc.testsuites === undefined) {
    problem(who, 'the root is not <testsuites>')
    return
  }
  const runSeconds = parseFloat(doc.testsuites.$?.time)
  if (isNaN(runSeconds)) problem(who, '<testsuites> has no numeric time')
  const want = expectedCounts(results)
  // The tracked files by base name, as dorny indexes them for stack frames.
  const byName = new Map()
  for (const file of tracked) {
    const list = byName.get(path.basename(file)) ?? []
    list.push(file)
    byName.set(path.basename(file), list)
  }
  for (const ts of doc.testsuites.testsuite ?? []) {
    const name = ts.$.name.trim()
    const ms = parseFloat(ts.$.time) * 1000
    if (isNaN(ms)) problem(who, `suite "${name}": time is NaN (shown as "NaNms")`)
    const kind = suiteKind(ts.properties?.[0]?.property?.map(p => p.$) ?? [])
    const got = {tests: 0, passed: 0, failed: 0, skipped: 0}
    for (const tc of ts.testcase ?? []) {
      const caseName = tc.$.name.trim()
      if (tc.$.classname !== ts.$.name) {
        problem(who, `"${caseName}": classname "${tc.$.classname}" is not its suite's name, so it shows as a group`)
      }
      if (isNaN(parseFloat(tc.$.time) * 1000)) problem(who, `"${name}" / "${caseName}": time is NaN`)
      got.tests += 1
      const failures = tc.failure ?? tc.error
      if (failures) got.failed += 1
      else if (tc.skipped) got.skipped += 1
      else got.passed += 1
      if (!failures) continue
      const failure = failures[0]
      const details = typeof failure === 'object' ? failure._ : failure
      const message = typeof failure === 'object' ? `${failure.$?.type}: ${failure.$?.message}` : undefined
      const shown = message ?? firstLine(details ?? '')
      if (!failure.$?.message || shown.includes('\n')) {
        problem(who, `"${name}" / "${caseName}": the message under the test is not one line: ${JSON.stringify(shown)}`)
      }
      if (kind !== undefined && kind !== 'gate') {
        for (const [what, text] of lacking(details ?? '', expectedTexts(results, kind, caseName))) {
          problem(who, `"${name}" / "${caseName}": the annotation's details lack the ${what} ${JSON.stringify(text)}`)
        }
      }
      // A stack frame in the details pins the annotation to a tracked file.
      for (const line of (details ?? '').split(/\r?\n/)) {
        const frame = line.match(/^\s*at (.*)\((.*):(\d+)\)$/)
        if (!frame) continue
        const [, tracePath, fileName] = frame
        const pkg = tracePath.split('.')
        const upper = pkg.findIndex(part => part[0] <= 'Z')
        if (upper !== -1) pkg.splice(upper)
        if (pkg.length === 0) continue
        for (const file of byName.get(fileName) ?? []) {
          const dirs = path.dirname(file).split('/')
          if (pkg.length > dirs.length) continue
          const tail = dirs.slice(dirs.length - pkg.length)
          if (pkg.every((p, i) => p === tail[i])) {
            problem(who, `"${name}" / "${caseName}": the line "${line.trim()}" pins the annotation to ${file}`)
          }
        }
      }
    }
    if (kind === undefined) {
      problem(who, `suite "${name}": no cell or verdict properties, cannot check its counts`)
    } else if (want.has(kind)) {
      compareCounts(who, kind, got, want.get(kind))
    }
  }
}

// The path mikepenz's action would pin a testcase's annotations to, or undefined when it finds
// no file (the annotation then names the bare text, which matches nothing in the repository).
// The glob's answers by file name, as the action caches them.
const globbed = new Map()

async function mikepenzResolve(name, stackTrace, workspace) {
  let file = name.split('.').slice(-1)[0]
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('::', '/')
  const matches = stackTrace.match(new RegExp(` [^ ]*${escaped}.*?:\\d+`, 'g'))
  if (matches) {
    const tokens = matches[matches.length - 1].split(':')
    tokens.pop()
    const prefix = tokens.pop() || ''
    if (prefix.endsWith('.rs')) file = prefix.split(' ').pop() || ''
  }
  if (file !== '' && fs.existsSync(file)) return file
  if (fs.existsSync(`${workspace}${file}`)) return `${workspace}${file}`
  const normalized = file.replace(/^\.\//, '')
  if (!globbed.has(normalized)) {
    let match
    const globber = await glob.create(`${workspace}/**/${normalized}.*`, {followSymbolicLinks: false})
    for await (const found of globber.globGenerator()) {
      if (!['/build/', '/__pycache__/'].some(v => found.includes(v))) {
        match = found
        break
      }
    }
    globbed.set(normalized, match)
  }
  return globbed.get(normalized)
}

async function mikepenz(xml, results, workspace) {
  const who = 'mikepenz/action-junit-report'
  const report = JSON.parse(xmljs.xml2json(xml, {compact: true}))
  const root = report.testsuites ?? report.testsuite
  const want = expectedCounts(results)
  const total = {tests: 0, failed: 0, skipped: 0}
  const suites = asArray(root.testsuite)
  for (const suite of suites) {
    const name = suite._attributes?.name ?? ''
    const kind = suiteKind(asArray(suite.properties?.property).map(p => p._attributes))
    const got = {tests: 0, passed: 0, failed: 0, skipped: 0}
    for (const tc of asArray(suite.testcase)) {
      const attrs = tc._attributes
      got.tests += 1
      const time = attrs.time === undefined ? 0 : parseFloat(attrs.time)
      if (isNaN(time)) problem(who, `"${name}" / "${attrs.name}": time is NaN`)
      const skip = tc.skipped || attrs.status === 'disabled' || attrs.status === 'ignored'
      const failed = Boolean(tc.failure || tc.error) && !skip
      if (skip) got.skipped += 1
      if (failed) got.failed += 1
      const failure = asArray(tc.failure)[0]
      const stackTrace = String(
        failure?._cdata || failure?._text || tc.error?._cdata || tc.error?._text || ''
      ).trim()
      const message = String(
        failure?._attributes?.message ||
          tc.error?._attributes?.message ||
          stackTrace.split('\n').slice(0, 2).join('\n') ||
          attrs.name
      ).trim()
      // With `annotate_notice` or `include_passed` every testcase is resolved, not only failures.
      const pinned = await mikepenzResolve(attrs.classname || attrs.name, stackTrace, workspace)
      if (pinned !== undefined) {
        problem(who, `"${name}" / "${attrs.name}": classname "${attrs.classname}" resolves to ${pinned}`)
      }
      if (attrs.file !== undefined) problem(who, `"${attrs.name}": has a file attribute (${attrs.file})`)
      if (!failed) continue
      if (message.includes('\n')) problem(who, `"${name}" / "${attrs.name}": the message is not one line`)
      if (kind !== undefined && kind !== 'gate') {
        for (const [what, text] of lacking(stackTrace, expectedTexts(results, kind, attrs.name))) {
          problem(who, `"${name}" / "${attrs.name}": the annotation's raw details lack the ${what} ${JSON.stringify(text)}`)
        }
      }
    }
    got.passed = got.tests - got.failed - got.skipped
    total.tests += got.tests
    total.failed += got.failed
    total.skipped += got.skipped
    if (kind !== undefined && want.has(kind)) compareCounts(who, kind, got, want.get(kind))
  }
  // The check run's title: "N tests run, P passed, S skipped, F failed", from the testcases; the
  // totals evalgate writes on <testsuites> must say the same.
  const attr = root._attributes ?? {}
  const failures = Number(attr.failures) + Number(attr.errors)
  if (Number(attr.tests) !== total.tests) {
    problem(who, `<testsuites tests="${attr.tests}">, but the action counts ${total.tests} tests`)
  }
  if (failures !== total.failed) {
    problem(who, `<testsuites> failures + errors is ${failures}, but the action counts ${total.failed} failed`)
  }
  const cases = results.cells.reduce((n, c) => n + c.summary.cases, 0)
  const removed = (results.comparison?.cases ?? []).filter(c => c.change === 'removed').length
  const wantTests = cases + removed + results.verdict.rules.length
  if (total.tests !== wantTests) {
    problem(who, `${total.tests} tests, but evalgate's results have ${cases} cases, ${removed} removed and ${results.verdict.rules.length} gate rules`)
  }
  return total
}

async function main() {
  const [junitFile, resultsFile] = process.argv.slice(2)
  if (!junitFile || !resultsFile) {
    console.error('usage: check.cjs JUNIT_FILE RESULTS_FILE (from the repository root)')
    process.exit(2)
  }
  const xml = fs.readFileSync(junitFile, 'utf8')
  const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))
  const workspace = process.cwd()
  const tracked = execFileSync('git', ['ls-files'], {encoding: 'utf8'}).split('\n').filter(Boolean)
  await dorny(xml, results, tracked)
  const total = await mikepenz(xml, results, workspace)
  if (problems.length > 0) {
    console.error(`${junitFile}: ${problems.length} problem(s) as GitHub's JUnit actions read it:`)
    for (const p of problems) console.error(`  ${p}`)
    process.exit(1)
  }
  console.log(
    `${junitFile}: as dorny/test-reporter and mikepenz/action-junit-report read it: ` +
      `${total.tests} tests, ${total.failed} failed, ${total.skipped} skipped; ` +
      'times, messages, failure texts and classnames fine'
  )
}

main().catch(err => {
  console.error(`check.cjs: ${err.stack ?? err}`)
  process.exit(1)
})
