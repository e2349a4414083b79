// Minimal types for net-snmp 3.29 (the package ships none): only what the
// interface poller (snmp.ts) uses. See node_modules/net-snmp/README.md.
declare module "net-snmp" {
  namespace snmp {
    interface Varbind {
      oid: string;
      type: number;
      /** OctetString: Buffer; Integer/Gauge/Counter32: number; Counter64: Buffer or bigint. */
      value: unknown;
    }

    interface SessionOptions {
      port?: number;
      retries?: number;
      timeout?: number;
      backoff?: number;
      transport?: "udp4" | "udp6";
      version?: number;
      idBitsSize?: 16 | 32;
      context?: string;
    }

    interface User {
      name: string;
      level: number;
      authProtocol?: string;
      authKey?: string;
      privProtocol?: string;
      privKey?: string;
    }

    interface Session {
      getBulk(
        oids: string[],
        nonRepeaters: number,
        maxRepetitions: number,
        callback: (error: Error | null, varbinds?: (Varbind | Varbind[])[]) => void,
      ): void;
      getNext(oids: string[], callback: (error: Error | null, varbinds?: Varbind[]) => void): void;
      close(): void;
      on(event: "error", listener: (err: Error) => void): this;
      on(event: "close", listener: () => void): this;
    }
  }

  const snmp: {
    Version1: number;
    Version2c: number;
    Version3: number;
    SecurityLevel: { noAuthNoPriv: number; authNoPriv: number; authPriv: number };
    AuthProtocols: Record<"md5" | "sha" | "sha224" | "sha256" | "sha384" | "sha512", string>;
    PrivProtocols: Record<"des" | "aes" | "aes256b" | "aes256r", string>;
    ObjectType: Record<string, number>;
    createSession(target: string, community: string, options?: snmp.SessionOptions): snmp.Session;
    createV3Session(target: string, user: snmp.User, options?: snmp.SessionOptions): snmp.Session;
    isVarbindError(vb: snmp.Varbind): boolean;
    varbindError(vb: snmp.Varbind): string;
    RequestTimedOutError: new (message: string) => Error;
  };
  export default snmp;
}
