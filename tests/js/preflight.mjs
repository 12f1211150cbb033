// node preflight.mjs PROGRAM.json CASES.json: site/js/program.js's preflight of the program on each
// case's device ({limits, features}), printed as a JSON list of problem lists, and the message the
// executor throws for the first case that has problems. No GPU is touched.
import { readFileSync } from "node:fs";

import { ProgramRunner, preflight } from "../../site/js/program.js";

const [programPath, casesPath] = process.argv.slice(2);
const program = JSON.parse(readFileSync(programPath, "utf8"));
const cases = JSON.parse(readFileSync(casesPath, "utf8"));
const devices = cases.map((c) => ({ limits: c.limits, features: new Set(c.features), device: null }));
const problems = devices.map((gpu) => preflight(program, gpu));
let thrown = null;
const refused = devices.find((_, i) => problems[i].length);
if (refused) {
  try {
    new ProgramRunner(refused, program); // eslint-disable-line no-new
  } catch (error) {
    thrown = { message: error.message, kind: error.kind };
  }
}
console.log(JSON.stringify({ problems, thrown }));
