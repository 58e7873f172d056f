// docs/openapi.yaml under Redocly's linter (pinned in tests/web/package.json)
// with its built-in recommended rules: zero errors and zero warnings, since
// client generators reject what it flags.  No telemetry, no update check.
//
//   node openapi_lint.mjs <openapi.yaml>
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const redocly = join(here, '..', 'web', 'node_modules', '.bin', 'redocly');
const spec = process.argv[2];
const run = spawnSync(redocly, ['lint', '--format=stylish', spec], {
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
});
if (run.error) {
    console.error(`cannot run ${redocly}: ${run.error.message} (npm ci --prefix tests/web)`);
    process.exit(1);
}
const out = `${run.stdout}\n${run.stderr}`;
const findings = out.split('\n').filter((l) => /^\s*\d+:\d+\s+(error|warning)\s/.test(l));
process.stdout.write(out);
if (run.status !== 0 || findings.length > 0) {
    console.error(`openapi lint: ${findings.length} findings (exit ${run.status}); the document must have none`);
    process.exit(1);
}
console.log('openapi lint: no errors, no warnings');
