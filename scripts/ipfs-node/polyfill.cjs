// js-ipfs 0.66.1 (and some of its dependencies) calls Promise.withResolvers, which Node only
// ships from v22. Loaded with `node --require ./polyfill.cjs` (or NODE_OPTIONS) before anything
// else; a no-op on runtimes that already have it.
'use strict'

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
