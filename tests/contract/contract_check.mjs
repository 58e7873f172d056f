// The contract check: every answer the end-to-end tests received (recorded
// by tests/support/e2e_contract.c as JSON lines) must be described by
// docs/openapi.yaml: a documented path and method, a documented status (or
// one of the HTTP layer's errors listed in `x-sitr-http-layer-errors`), a
// documented content type whose schema the body validates against, and the
// documented headers' values.  Prints every kind of mismatch once with an
// example and fails if there is any.
//
//   node contract_check.mjs <log dir> <openapi.yaml>
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'web', 'package.json'));
const YAML = require('yaml');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const [logDir, specPath] = process.argv.slice(2);
if (!logDir || !specPath) {
    console.error('usage: contract_check.mjs <log dir> <openapi.yaml>');
    process.exit(2);
}

const spec = YAML.parse(readFileSync(specPath, 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(spec, 'openapi.json');
const compiled = new Map();
function validatorAt(pointer) {
    if (!compiled.has(pointer)) compiled.set(pointer, ajv.compile({ $ref: 'openapi.json#' + pointer }));
    return compiled.get(pointer);
}
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function deref(obj, pointerOf) {
    // Follows a local $ref once (responses and headers are referenced by name).
    if (obj && obj.$ref && obj.$ref.startsWith('#/')) {
        const parts = obj.$ref.slice(2).split('/');
        let v = spec;
        for (const p of parts) v = v[p.replace(/~1/g, '/').replace(/~0/g, '~')];
        return { obj: v, pointer: obj.$ref.slice(1) };
    }
    return { obj, pointer: pointerOf };
}

// Path templates -> regular expressions, literal paths first.
const routes = Object.keys(spec.paths)
    .map((tpl) => ({
        tpl,
        re: new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
        literal: !tpl.includes('{'),
    }))
    .sort((a, b) => Number(b.literal) - Number(a.literal));

const layerErrors = spec['x-sitr-http-layer-errors'] || {};

const problems = new Map(); // kind -> {count, example}
function problem(kind, ex, detail) {
    const p = problems.get(kind) || { count: 0, example: null };
    p.count++;
    if (!p.example) p.example = `${ex.file}: ${ex.method} ${ex.target} -> ${ex.status}${detail ? ': ' + detail : ''}`;
    problems.set(kind, p);
}

// "Text/HTML ;charset=UTF-8" -> "text/html;charset=utf-8"
const normType = (t) => t.toLowerCase().split(';').map((p) => p.trim()).join(';');
const baseType = (t) => normType(t).split(';')[0];
function mediaType(headers) {
    return baseType(headers['content-type'] || '');
}
// The documented content key for the answer's Content-Type: the same type
// and parameters, or the same type when the key names no parameters.
function contentKey(content, header) {
    const full = normType(header || '');
    return (
        Object.keys(content).find((k) => normType(k) === full) ||
        Object.keys(content).find((k) => !k.includes(';') && normType(k) === baseType(full))
    );
}
const isJson = (mt) => mt === 'application/json' || mt.endsWith('+json');

function checkHeaders(ex, response, where) {
    for (const [name, h0] of Object.entries(response.headers || {})) {
        const { obj: h } = deref(h0);
        const value = ex.headers[name.toLowerCase()];
        if (value === undefined) {
            if (h.required) problem(`${where}: required header ${name} missing`, ex);
            continue;
        }
        const s = h.schema || {};
        if (s.enum && !s.enum.includes(value))
            problem(`${where}: header ${name} not one of its documented values`, ex, value);
        if (s.type === 'integer' && (!/^[0-9]+$/.test(value) || (s.minimum !== undefined && Number(value) < s.minimum)))
            problem(`${where}: header ${name} is not the documented integer`, ex, value);
    }
}

function checkBody(ex, response, pointer, where) {
    const body = ex.body === undefined ? null : ex.body;
    const content = response.content;
    if (ex.method === 'HEAD' || ex.status === 304 || ex.status === 204) return;
    if (!content) {
        if (body) problem(`${where}: a body where the document describes none`, ex);
        return;
    }
    const mt = mediaType(ex.headers);
    const key = contentKey(content, ex.headers['content-type']);
    if (!key) {
        problem(`${where}: Content-Type ${ex.headers['content-type'] || '(none)'} not documented`, ex);
        return;
    }
    if (!content[key].schema) return;
    if (!isJson(mt)) return; // text bodies (HTML, CSS, JS, metrics): the type is the contract
    let value;
    try {
        value = JSON.parse(body);
    } catch {
        problem(`${where}: body is not JSON`, ex);
        return;
    }
    const validate = validatorAt(`${pointer}/content/${esc(key)}/schema`);
    if (!validate(value)) {
        const e = validate.errors[0];
        problem(`${where}: body does not match its schema (${e.instancePath || '/'} ${e.message})`, ex,
            JSON.stringify(e.params));
    }
}

function checkLayerError(ex, where) {
    const codes = layerErrors[String(ex.status)];
    if (!codes) {
        problem(`${where}: status ${ex.status} not documented`, ex);
        return;
    }
    let code = null;
    try {
        code = JSON.parse(ex.body).error.code;
    } catch {
        /* reported below */
    }
    if (!codes.includes(code)) problem(`${where}: ${ex.status} ${code} is not an HTTP-layer error`, ex);
    const validate = validatorAt('/components/schemas/Error');
    if (code && !validate(JSON.parse(ex.body))) problem(`${where}: error body does not match Error`, ex);
}

// A successful answer for a path parameter the document does not allow
// (e.g. a static file missing from its enum) is an undocumented answer too.
function checkPathParams(ex, route, method, path, where) {
    const names = [...route.tpl.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    if (!names.length) return;
    const values = path.match(new RegExp('^' + route.tpl.replace(/\{[^}]+\}/g, '([^/]+)') + '$')).slice(1);
    const params = [...(spec.paths[route.tpl].parameters || []), ...(spec.paths[route.tpl][method].parameters || [])]
        .map((p) => deref(p).obj)
        .filter((p) => p.in === 'path');
    names.forEach((name, i) => {
        const p = params.find((q) => q.name === name);
        if (!p) {
            problem(`${where}: path parameter {${name}} not declared`, ex);
            return;
        }
        let v = decodeURIComponent(values[i]);
        if (p.schema && (p.schema.type === 'integer' || p.schema.type === 'number')) v = Number(v);
        const validate = ajv.compile(p.schema || {});
        if (!validate(v)) problem(`${where}: {${name}} = ${values[i]} answered ${ex.status} but is outside its schema`, ex);
    });
}

function checkOne(ex) {
    const path = ex.target.split('?')[0];
    const route = routes.find((r) => r.re.test(path));
    if (!route) {
        checkLayerError(ex, `(no documented path)`);
        return null;
    }
    const method = ex.method === 'HEAD' ? 'get' : ex.method.toLowerCase();
    const op = spec.paths[route.tpl][method];
    const where = `${ex.method} ${route.tpl}`;
    if (!op) {
        checkLayerError(ex, where);
        return null;
    }
    const st = String(ex.status);
    const key = [st, `${st[0]}XX`, 'default'].find((k) => op.responses[k]);
    if (!key) {
        checkLayerError(ex, where);
        return `${where} ${st}`;
    }
    if (ex.status < 300) checkPathParams(ex, route, method, path, where);
    const opPointer = `/paths/${esc(route.tpl)}/${method}/responses/${esc(key)}`;
    const { obj: response, pointer } = deref(op.responses[key], opPointer);
    checkHeaders(ex, response, `${where} ${st}`);
    checkBody(ex, response, pointer, `${where} ${st}`);
    return `${where} ${st}`;
}

let total = 0;
const seen = new Set();
let files = [];
try {
    files = readdirSync(logDir).filter((f) => f.endsWith('.jsonl'));
} catch {
    /* no log: nothing ran that records */
}
for (const f of files.sort()) {
    for (const line of readFileSync(join(logDir, f), 'utf8').split('\n')) {
        if (!line) continue;
        const ex = JSON.parse(line);
        ex.file = f.replace(/-\d+\.jsonl$/, '');
        total++;
        const k = checkOne(ex);
        if (k) seen.add(k);
    }
}

console.log(`contract: ${total} answers from ${files.length} test processes checked against ${specPath}`);
console.log(`contract: ${seen.size} documented (operation, status) pairs exercised`);
if (problems.size) {
    for (const [kind, p] of [...problems].sort()) console.log(`FAIL ${kind} (${p.count}x)\n     e.g. ${p.example}`);
    console.log(`contract: ${problems.size} kinds of undocumented answers`);
    process.exit(1);
}
if (total === 0) {
    console.log('contract: no answers were recorded (run it with the e2e tests: ctest -L e2e)');
}
console.log('contract: every recorded answer is described by the document');
