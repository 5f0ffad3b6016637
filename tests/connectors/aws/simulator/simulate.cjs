// Test-only bridge to @cloud-copilot/iam-simulate for tests/connectors/aws/test_differential.py.
//
// One long-lived process, so that thousands of cases cost one node start-up: it reads one JSON request per
// line on stdin and writes one JSON answer per line on stdout, in order.
//
//   {"id": 1, "simulation": {...}}   ->  {"id": 1, "result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied",
//                                          "ignored": [context keys the simulator dropped for this action]}
//                                    or  {"id": 1, "error": {...}}   (invalid policy, action or resource)
//   {"id": 2, "explain": true, "simulation": {...}} adds "analysis" (the simulator's per-statement explains).
//
// Strict mode: the request is evaluated exactly as given (a key missing from contextVariables is absent),
// so every answer is two-valued. The module is found through NODE_PATH (the test installs it with `npm ci`
// from package-lock.json beside this file into a cache directory outside the checkout).
'use strict';

const readline = require('node:readline');
const { runSimulation } = require('@cloud-copilot/iam-simulate');

async function answer(msg) {
  const r = await runSimulation(msg.simulation, { simulationMode: 'Strict' });
  if (r.resultType === 'error') return { error: r.errors };
  const results = r.resultType === 'single' ? [r.result] : r.results;
  const out = {
    result: r.overallResult,
    ignored: [...new Set(results.flatMap((x) => x.ignoredContextKeys || []))],
  };
  if (msg.explain) out.analysis = results.map((x) => x.analysis);
  return out;
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let id = null;
    let out;
    try {
      const msg = JSON.parse(line);
      id = msg.id ?? null;
      out = await answer(msg);
    } catch (e) {
      out = { error: { message: String((e && e.stack) || e) } };
    }
    process.stdout.write(JSON.stringify({ id, ...out }) + '\n');
  });
});
