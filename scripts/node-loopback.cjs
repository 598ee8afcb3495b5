// Preload for Node servers that listen on every interface (e.g. server-everything's
// streamableHttp and sse modes): every TCP `listen` of node:net / node:http(s) is forced onto
// 127.0.0.1, whatever host the program asked for. Unix sockets and inherited handles are left
// alone. Usage:
//   NODE_OPTIONS=--require=/path/to/scripts/node-loopback.cjs PORT=P mcp-server-everything streamableHttp
'use strict';
const net = require('node:net');

const HOST = '127.0.0.1';
const original = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object') {
    // listen(options[, cb]); a handle ({_handle} / {fd}) or a unix socket ({path}) stays as is.
    const isTcp = first.path === undefined && first.fd === undefined && first._handle === undefined
      && !(first instanceof net.Server) && !(first instanceof net.Socket);
    if (isTcp) args[0] = { ...first, host: HOST };
  } else if (first === undefined || typeof first === 'function' || isPort(first)) {
    // listen([port[, host[, backlog]]][, cb]): rebuilt as listen({port, host, backlog}, cb).
    const cb = args.find((a) => typeof a === 'function');
    const rest = args.slice(1).filter((a) => typeof a !== 'function');
    const options = { port: isPort(first) ? Number(first) : 0, host: HOST };
    const backlog = rest.find((a) => typeof a === 'number'); // a host, if given, is a string
    if (backlog !== undefined) options.backlog = backlog;
    args = cb ? [options, cb] : [options];
  }
  return original.apply(this, args);
};
