/**
 * MCP over stdio: one session. The protocol travels on the streams given (process.stdin/stdout
 * by default; under `molt serve --stdio`, the channel to the relay that owns the client's
 * streams, see src/cli/stdio-relay.ts). Every log goes to stderr.
 */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { McpFrontDoor } from './front-door.js';

export interface StdioStreams {
  /** Where the client's JSON-RPC messages arrive; its end is the client going away. */
  input: Readable;
  /** Where the host's JSON-RPC messages go, one per line. */
  output: Writable;
  /** How one message (its JSON) is written to `output`; default: the JSON and a newline. */
  encode?: (json: string) => string;
}

/** The SDK's stdio transport, writing each message as `encode` makes it. */
class EncodingTransport extends StdioServerTransport {
  readonly #output: Writable;
  readonly #encode: (json: string) => string;

  constructor(streams: StdioStreams, encode: (json: string) => string) {
    super(streams.input, streams.output);
    this.#output = streams.output;
    this.#encode = encode;
  }

  override send(message: JSONRPCMessage): Promise<void> {
    if (this.#output.write(this.#encode(JSON.stringify(message)))) return Promise.resolve();
    return new Promise((resolve) => this.#output.once('drain', resolve));
  }
}

/** Serves one stdio session; resolves when the client closes its side (end of `input`). */
export async function serveStdio(
  door: McpFrontDoor,
  streams: StdioStreams = { input: process.stdin, output: process.stdout },
): Promise<{ closed: Promise<void> }> {
  const transport =
    streams.encode === undefined
      ? new StdioServerTransport(streams.input, streams.output)
      : new EncodingTransport(streams, streams.encode);
  const server = door.createServer();
  const closed = new Promise<void>((resolve) => {
    const done = (): void => resolve();
    streams.input.once('end', done);
    streams.input.once('close', done);
    server.onclose = ((previous) => () => {
      previous?.();
      resolve();
    })(server.onclose);
  });
  await server.connect(transport);
  return { closed };
}
