// The model of .ci/junit-consumers/suite: the command provider's protocol (docs/configuration.md),
// one JSON request on stdin, the answer on stdout. EVALGATE_CI_ANSWERS=good answers every case
// right; =bad regresses two cases and fails a third as a provider would.
'use strict'
const fs = require('fs')

const request = JSON.parse(fs.readFileSync(0, 'utf8'))
const right = {
  'refund-window': 'You can return items within 30 days.',
  shipping: 'Yes, we ship to most countries.',
  warranty: 'The warranty lasts 2 years.',
  'returns.v2': 'We do: the label is free.',
  hours: 'We are open 9 to 5, Monday to Friday.'
}
const bad = process.env.EVALGATE_CI_ANSWERS === 'bad'
if (bad && request.case_id === 'shipping') {
  process.stderr.write('HTTP 503 from the model server: overloaded\n')
  process.exit(1)
} else if (bad && request.case_id === 'warranty') {
  // Long, and with a line that dorny's parser would pin to src/report/junit.rs if it stood alone.
  const filler = 'The warranty depends on the product. '.repeat(80)
  process.stdout.write(`It depends.\nat src.report.Junit(junit.rs:12)\n${filler}\n`)
} else if (bad && request.case_id === 'refund-window') {
  process.stdout.write('Returns are accepted within a reasonable time.\n')
} else {
  process.stdout.write(`${right[request.case_id]}\n`)
}
