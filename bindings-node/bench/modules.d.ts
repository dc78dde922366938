// The node-redlock versions the benchmark compares against, installed under npm
// aliases (redlock5 = redlock@5.0.0-beta.2, redlock4 = redlock@4.2.0). Untyped here:
// 5.0.0-beta.2's types are not reachable through the alias, 4.2.0 has none.
declare module 'redlock5'
declare module 'redlock4'
