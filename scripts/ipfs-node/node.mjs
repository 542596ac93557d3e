// A loopback-only, offline js-ipfs node serving the Kubo RPC API (/api/v0/*), for tests and
// local development. Start it through ./start (which loads polyfill.cjs), never directly:
//
//   scripts/ipfs-node/start --repo /tmp/some-dir [--api-port 0] [--watch-stdin]
//
// On success it prints exactly one line `IPFS_API_URL http://127.0.0.1:PORT` on stdout (port 0,
// the default, picks a free port) and serves until SIGTERM/SIGINT/SIGHUP, or, with
// --watch-stdin, until its stdin is closed (so a parent that dies without cleaning up does not
// leave it running). A fresh --repo directory is initialised on first start.
//
// The node never touches the network: no swarm listeners, no bootstrap peers, no MDNS, no
// webRTC-star, no delegates, no preload, offline mode (libp2p not started), no gateway, no gRPC.
import { parseArgs } from 'node:util'
import process from 'node:process'

if (typeof Promise.withResolvers !== 'function') {
  console.error('ipfs-node: Promise.withResolvers is missing: start through scripts/ipfs-node/start ' +
    '(or node --require scripts/ipfs-node/polyfill.cjs)')
  process.exit(2)
}

const { values } = parseArgs({
  options: {
    repo: { type: 'string' },
    'api-port': { type: 'string', default: '0' },
    'watch-stdin': { type: 'boolean', default: false }
  }
})

if (!values.repo) {
  console.error('ipfs-node: --repo DIR is required')
  process.exit(2)
}

// `ipfs` (the package.json devDependency) gives the core node; `ipfs-http-server` (its dependency,
// hoisted by npm) is the same RPC server `jsipfs daemon` runs. Unlike `jsipfs daemon` (the
// ipfs-daemon package) we start neither the HTTP gateway nor the gRPC server.
let create, HttpApi
try {
  ({ create } = await import('ipfs'))
  ;({ HttpApi } = await import('ipfs-http-server'))
} catch (err) {
  console.error(`ipfs-node: cannot load js-ipfs: ${err.message}; run \`npm ci\` in the project root`)
  process.exit(3)
}

const apiPort = Number.parseInt(values['api-port'], 10)

const config = {
  Addresses: {
    Swarm: [],
    Announce: [],
    NoAnnounce: [],
    API: `/ip4/127.0.0.1/tcp/${apiPort}`,
    Gateway: [],
    Delegates: []
  },
  Bootstrap: [],
  Discovery: {
    MDNS: { Enabled: false, Interval: 10 },
    webRTCStar: { Enabled: false }
  },
  Pubsub: { Enabled: false },
  Swarm: { DisableNatPortMap: true },
  Routing: { Type: 'none' }
}

const options = {
  repo: values.repo,
  config,
  init: { emptyRepo: true, algorithm: 'Ed25519' },
  offline: true,
  silent: true,
  preload: { enabled: false, addresses: [] },
  relay: { enabled: false, hop: { enabled: false } },
  EXPERIMENTAL: { ipnsPubsub: false, sharding: false }
}

let ipfs
let httpApi

let stopping = false
async function stop (code) {
  if (stopping) return
  stopping = true
  try {
    if (httpApi) await httpApi.stop()
    if (ipfs) await ipfs.stop()
  } catch (err) {
    console.error(`ipfs-node: error while stopping: ${err.message}`)
  }
  process.exit(code)
}

process.on('SIGTERM', () => { stop(0) })
process.on('SIGINT', () => { stop(0) })
process.on('SIGHUP', () => { stop(0) })

try {
  ipfs = await create({ ...options, start: true })
  httpApi = new HttpApi(ipfs)
  await httpApi.start()
} catch (err) {
  console.error(`ipfs-node: failed to start: ${err.stack || err.message}`)
  process.exit(1)
}

const servers = httpApi._apiServers ?? []
if (servers.length === 0) {
  console.error('ipfs-node: no HTTP API server started')
  await stop(1)
}
const info = servers[0].info
process.stdout.write(`IPFS_API_URL http://127.0.0.1:${info.port}\n`)

if (values['watch-stdin']) {
  process.stdin.on('end', () => { stop(0) })
  process.stdin.on('error', () => { stop(0) })
  process.stdin.resume()
}
