/**
 * Who the idle timeout cuts. Node's HTTP server (fastify's
 * `connectionTimeout`) destroys a socket on which nothing moved for that
 * long, silently, whatever the reason: also while the response waits for
 * the gateway itself, a blob the swarm still fetches or a manifest's pull.
 * The client then sees a body cut short (`unexpected EOF` in skopeo) and
 * the gateway takes it for a client that went away.
 *
 * The guard takes the timeout over: while the request has been received
 * whole and nothing waits to be written to the client, the gateway is the
 * one behind and the timer is re-armed (the routes bound their own waits:
 * a blob's stream by the pull timeout, a manifest by its pull's; `patience`
 * is the backstop). It cuts the connection, saying why, when the client
 * stopped sending its request or reading the answer, or holds the
 * connection idle with no request.
 */

import type { Logger } from '@libp2p/interface'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

interface InFlight {
  req: IncomingMessage
  res: ServerResponse
  started: number
}

export class IdleGuard {
  readonly #idle: number
  readonly #patience: number
  readonly #log: Logger
  readonly #inFlight = new WeakMap<Socket, InFlight>()

  /**
   * @param idle - the server's idle timeout, in ms
   * @param patience - the longest a request may wait for the gateway with the timer re-armed, in ms
   */
  constructor (idle: number, patience: number, log: Logger) {
    this.#idle = idle
    this.#patience = patience
    this.#log = log
  }

  /** Takes over the timeouts of `server`'s sockets (a listener on 'timeout' stops node's own destroy) */
  attach (server: Server): void {
    server.on('timeout', (socket: Socket) => { this.#timedOut(socket) })
  }

  /** The request `req` is in flight on its socket until `res` closes */
  track (req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket
    const entry: InFlight = { req, res, started: Date.now() }
    this.#inFlight.set(socket, entry)
    res.once('close', () => {
      if (this.#inFlight.get(socket) === entry) this.#inFlight.delete(socket)
    })
  }

  #timedOut (socket: Socket): void {
    const entry = this.#inFlight.get(socket)
    if (entry == null) {
      socket.destroy()
      return
    }
    const { req, res, started } = entry
    const waited = Date.now() - started
    const clientBehind = !req.complete || res.writableNeedDrain || socket.writableLength > 0
    if (!clientBehind && !res.writableEnded && waited < this.#patience) {
      this.#log('%s %s: nothing sent for %d ms while the gateway waits for its source; the connection is kept', req.method, req.url, this.#idle)
      socket.setTimeout(this.#idle)
      return
    }
    const why = !req.complete
      ? 'the client sent nothing of its request'
      : clientBehind ? 'the client read nothing of the answer' : `the answer waited on the gateway for ${waited} ms`
    this.#log.error('%s %s: %s for %d ms; the connection is cut', req.method, req.url, why, this.#idle)
    socket.destroy()
  }
}
