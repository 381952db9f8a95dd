/** MCP over stdin/stdout: one session. stdout carries protocol only; every log goes to stderr. */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { McpFrontDoor } from './front-door.js';

/** Serves one stdio session; resolves when the client closes stdin. */
export async function serveStdio(door: McpFrontDoor): Promise<{ closed: Promise<void> }> {
  const transport = new StdioServerTransport();
  const server = door.createServer();
  const closed = new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.stdin.once('end', done);
    process.stdin.once('close', done);
    server.onclose = ((previous) => () => {
      previous?.();
      resolve();
    })(server.onclose);
  });
  await server.connect(transport);
  return { closed };
}
