// The conformance runner, shared by Node (test/vectors.test.mjs) and the
// browser page (test/browser/): no Node APIs. It follows conformance/README.md:
// every file runs (skipping one is a failure), outputs are compared as JSON
// values in order, unknown expectation keys fail, and a rejected input must
// leave the machine unchanged and silent.

/** Keys every machine expectation may have, plus each machine's getter. */
const BASE_KEYS = ['outputs', 'timeout', 'state', 'error']
const GETTERS = /** @type {Record<string, string>} */ ({
  redlock: 'lease',
  etcd_mutex: 'lock',
  etcd_election: 'lock',
  etcd_observer: 'leader',
  zookeeper_lock: 'lock',
  zookeeper_election: 'lock',
  advisory_lock: 'lock',
})

/**
 * A JSON parser that keeps integers exact: integers beyond
 * Number.MAX_SAFE_INTEGER become BigInt (JSON.parse would round them).
 * @param {string} text
 * @returns {any}
 */
export function parseExact(text) {
  let i = 0
  const fail = (/** @type {string} */ what) => {
    throw new SyntaxError(`JSON: ${what} at offset ${i}`)
  }
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(/** @type {string} */ (text[i]))) i++
  }
  /** @returns {any} */
  const value = () => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      /** @type {Record<string, any>} */
      const out = {}
      ws()
      if (text[i] === '}') {
        i++
        return out
      }
      for (;;) {
        ws()
        if (text[i] !== '"') fail('expected a key')
        const key = string()
        ws()
        if (text[i++] !== ':') fail('expected ":"')
        out[key] = value()
        ws()
        const sep = text[i++]
        if (sep === '}') return out
        if (sep !== ',') fail('expected "," or "}"')
      }
    }
    if (c === '[') {
      i++
      /** @type {any[]} */
      const out = []
      ws()
      if (text[i] === ']') {
        i++
        return out
      }
      for (;;) {
        out.push(value())
        ws()
        const sep = text[i++]
        if (sep === ']') return out
        if (sep !== ',') fail('expected "," or "]"')
      }
    }
    if (c === '"') return string()
    for (const [word, v] of /** @type {[string, any][]} */ ([['true', true], ['false', false], ['null', null]])) {
      if (text.startsWith(word, i)) {
        i += word.length
        return v
      }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 64))
    if (m === null) return fail('unexpected character')
    i += m[0].length
    if (m[2] === undefined && m[3] === undefined) {
      const n = Number(m[0])
      return Number.isSafeInteger(n) ? n : BigInt(m[0])
    }
    return Number(m[0])
  }
  const string = () => {
    const start = i
    i++
    for (;;) {
      const c = text[i]
      if (c === undefined) return fail('unterminated string')
      if (c === '\\') i += 2
      else if (c === '"') break
      else i++
    }
    i++
    return /** @type {string} */ (JSON.parse(text.slice(start, i)))
  }
  const result = value()
  ws()
  if (i !== text.length) fail('trailing characters')
  return result
}

/**
 * Deep equality of JSON values (BigInt and number compare by value).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function jsonEqual(a, b) {
  if ((typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number')) {
    return typeof a === typeof b ? a === b : BigInt(a) === BigInt(b)
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  const ra = /** @type {Record<string, unknown>} */ (a)
  const rb = /** @type {Record<string, unknown>} */ (b)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(rb, k) && jsonEqual(ra[k], rb[k]))
}

/** @param {unknown} v */
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))

class Mismatch extends Error {}

/**
 * @param {boolean} ok
 * @param {string} message
 */
function check(ok, message) {
  if (!ok) throw new Mismatch(message)
}

/**
 * @param {any} api the package (web or node entry)
 * @param {() => unknown} fn
 * @returns {string | null}
 */
function codeOf(api, fn) {
  try {
    fn()
    return null
  } catch (e) {
    if (!(e instanceof api.FencelockError)) throw new Mismatch(`expected a FencelockError, got ${e}`)
    return /** @type {any} */ (e).code
  }
}

/**
 * @param {any} api
 * @param {string} label
 * @param {Record<string, unknown>} expect
 * @param {unknown[]} outputs
 * @param {any} machine
 * @param {string} getter
 */
function checkExpect(api, label, expect, outputs, machine, getter) {
  for (const key of Object.keys(expect)) {
    check(BASE_KEYS.includes(key) || key === getter, `${label}: unknown expectation ${JSON.stringify(key)}`)
  }
  if ('outputs' in expect) check(jsonEqual(outputs, expect.outputs), `${label}: outputs differ: got ${show(outputs)}, expected ${show(expect.outputs)}`)
  if ('timeout' in expect) check(jsonEqual(machine.pollTimeout(), expect.timeout), `${label}: timeout ${machine.pollTimeout()} != ${show(expect.timeout)}`)
  if ('state' in expect) check(machine.state === expect.state, `${label}: state ${machine.state} != ${expect.state}`)
  if (getter in expect) {
    const actual = machine[getter]
    check(jsonEqual(actual, expect[getter]), `${label}: ${getter} ${show(actual)} != ${show(expect[getter])}`)
  }
  void api
}

/**
 * @param {any} api
 * @param {any} v
 */
function runMachine(api, v) {
  const getter = GETTERS[v.machine]
  check(getter !== undefined, `unknown machine ${v.machine}`)
  /** @type {any} */
  let machine
  const initError = codeOf(api, () => {
    machine = api.createMachine(v.machine, v.config, v.init)
  })
  if ('error' in v.expect_init) {
    check(initError === v.expect_init.error, `init: expected ${v.expect_init.error}, got ${initError}`)
    check((v.steps?.length ?? 0) === 0, 'a failing init has no steps')
    return
  }
  check(initError === null, `init: unexpected error ${initError}`)
  checkExpect(api, 'init', v.expect_init, machine.drain(), machine, /** @type {string} */ (getter))
  for (const [i, step] of (v.steps ?? []).entries()) {
    const label = `step ${i + 1}`
    const before = { state: machine.state, timeout: machine.pollTimeout(), view: machine[/** @type {string} */ (getter)] }
    const error = codeOf(api, () => machine.handleInput(step.input))
    if ('error' in step.expect) {
      check(error === step.expect.error, `${label}: expected error ${step.expect.error}, got ${error}`)
      const after = { state: machine.state, timeout: machine.pollTimeout(), view: machine[/** @type {string} */ (getter)] }
      check(jsonEqual(after, before), `${label}: a rejected input changed the machine`)
      check(machine.drain().length === 0, `${label}: emitted after a rejected input`)
    } else {
      check(error === null, `${label}: unexpected error ${error}`)
    }
    checkExpect(api, label, step.expect, machine.drain(), machine, /** @type {string} */ (getter))
  }
}

/**
 * @param {any} api
 * @param {any} v
 */
function runGatewayCodec(api, v) {
  for (const [i, c] of v.cases.entries()) {
    const label = `case ${i + 1}`
    /** @type {{reply?: unknown, error?: string} | null} */
    let outcome = null
    const attempt = (/** @type {() => unknown} */ fn) => {
      try {
        return { reply: fn() }
      } catch (e) {
        if (!(e instanceof api.FencelockError)) throw e
        return { error: /** @type {any} */ (e).code }
      }
    }
    if ('watch_line' in c) {
      outcome = attempt(() => api.gatewayDecodeWatchLine(c.watch_line))
    } else {
      if ('request' in c) {
        const request = api.gatewayEncode(c.command)
        const actual = request === null ? null : { path: request.path, body: JSON.parse(request.body) }
        check(jsonEqual(actual, c.request), `${label}: request ${show(actual)} != ${show(c.request)}`)
      }
      if (!('response' in c)) continue
      outcome = attempt(() => api.gatewayDecode(c.command, c.response))
    }
    if ('reply' in c) {
      check(outcome?.error === undefined, `${label}: unexpected error ${outcome?.error}`)
      check(jsonEqual(outcome?.reply, c.reply), `${label}: reply ${show(outcome?.reply)} != ${show(c.reply)}`)
    } else {
      check(outcome?.error === c.error, `${label}: expected error ${c.error}, got ${outcome?.error ?? show(outcome?.reply)}`)
    }
  }
}

/**
 * Runs one vector; throws with a message on any mismatch.
 * @param {any} api
 * @param {any} vector
 */
export function runVector(api, vector) {
  if (vector.codec !== undefined) {
    check(vector.codec === 'etcd_gateway', `unknown codec ${vector.codec}`)
    runGatewayCodec(api, vector)
    return 'etcd_gateway'
  }
  runMachine(api, vector)
  return vector.machine
}

/**
 * Runs every vector: `{name, text}` pairs. Returns counts and failures; never
 * throws for a vector's mismatch (each failure is listed).
 * @param {any} api
 * @param {{name: string, text: string}[]} files
 */
export function runAll(api, files) {
  /** @type {Record<string, number>} */
  const counts = {}
  /** @type {{name: string, message: string}[]} */
  const failures = []
  for (const { name, text } of files) {
    try {
      const kind = runVector(api, parseExact(text))
      counts[kind] = (counts[kind] ?? 0) + 1
    } catch (e) {
      failures.push({ name, message: e instanceof Error ? e.message : String(e) })
    }
  }
  const passed = Object.values(counts).reduce((a, b) => a + b, 0)
  return { total: files.length, passed, failed: failures.length, counts, failures }
}
