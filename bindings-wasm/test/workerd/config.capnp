# workerd configuration for the wasm binding's tests, the demo and the cold-start
# measurement. The socket address comes from the command line
# (`--socket-addr http=127.0.0.1:PORT`), the servers from the environment:
#   FENCELOCK_WORKERD_ETCD      etcd gateway URL, e.g. http://127.0.0.1:2379
#   FENCELOCK_WORKERD_MASTERS   Redlock masters, host:port,...
#   FENCELOCK_WORKERD_RESOURCE  the Redis holding the demo's fenced counter, host:port
# Module names mirror the package layout, so the package's relative imports
# resolve unchanged.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # Loopback servers only: workerd refuses private addresses unless allowed.
    (name = "internet", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "web.js", esModule = embed "../../web.js"),
    (name = "lib/api.js", esModule = embed "../../lib/api.js"),
    (name = "lib/core.js", esModule = embed "../../lib/core.js"),
    (name = "lib/errors.js", esModule = embed "../../lib/errors.js"),
    (name = "lib/etcd.js", esModule = embed "../../lib/etcd.js"),
    (name = "lib/host.js", esModule = embed "../../lib/host.js"),
    (name = "lib/json.js", esModule = embed "../../lib/json.js"),
    (name = "lib/redlock.js", esModule = embed "../../lib/redlock.js"),
    (name = "lib/resp.js", esModule = embed "../../lib/resp.js"),
    (name = "pkg/web/fencelock_wasm.js", esModule = embed "../../pkg/web/fencelock_wasm.js"),
    (name = "pkg/web/fencelock_wasm_bg.wasm", wasm = embed "../../pkg/web/fencelock_wasm_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "ETCD", fromEnvironment = "FENCELOCK_WORKERD_ETCD"),
    (name = "MASTERS", fromEnvironment = "FENCELOCK_WORKERD_MASTERS"),
    (name = "RESOURCE", fromEnvironment = "FENCELOCK_WORKERD_RESOURCE"),
  ],
);
