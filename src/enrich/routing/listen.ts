// The TCP listener shared by the BMP station and the BGP listener: routers
// connect to us. A port that cannot be bound is an error of that source
// (reported in its state), not of the process, so it is returned, never thrown.
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../../log.js";
import { parseListen } from "./config.js";

export interface Listening {
  server: Server;
  /** "listen <addr>: <reason>" when the port could not be bound; null when listening. */
  error: string | null;
}

/**
 * Listen on `listen` ("host:port") and hand each session to `accept`.
 * `onError` counts the bind failure and any later server error (accept
 * failures), which are never thrown at the process.
 */
export async function listenTcp(
  what: string,
  listen: string,
  accept: (s: Socket) => void,
  onError: (message: string) => void,
  log: Logger,
): Promise<Listening> {
  const l = parseListen(listen);
  if (!l) throw new Error(`${what}: bad listen address ${listen}`);
  const server = createServer(accept);
  const error = await new Promise<string | null>((resolve) => {
    server.once("error", (e) => {
      const msg = `listen ${listen}: ${e.message}`;
      onError(msg);
      log.error(`${what}: cannot listen`, { listen, error: e.message });
      resolve(msg);
    });
    server.listen(l.port, l.host, () => {
      server.on("error", (e) => onError(e.message));
      resolve(null);
    });
  });
  return { server, error };
}
