// A JSON parser that keeps integers exact: integers beyond
// Number.MAX_SAFE_INTEGER become BigInt (JSON.parse would round them), which is
// how the native module hands such values over too.

export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json }

export function parseExact(text: string): Json {
  let i = 0
  const fail = (what: string): never => {
    throw new SyntaxError(`JSON: ${what} at offset ${i}`)
  }
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++
  }
  const value = (): Json => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      const out: { [key: string]: Json } = {}
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
      const out: Json[] = []
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
    if (text.startsWith('true', i)) {
      i += 4
      return true
    }
    if (text.startsWith('false', i)) {
      i += 5
      return false
    }
    if (text.startsWith('null', i)) {
      i += 4
      return null
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
  const string = (): string => {
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
    return JSON.parse(text.slice(start, i)) as string
  }
  const result = value()
  ws()
  if (i !== text.length) fail('trailing characters')
  return result
}
