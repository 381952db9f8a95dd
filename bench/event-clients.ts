/**
 * Bench (g)'s subscribers, in a child process of their own so that what they spend reading is
 * not charged to the host: the parent sends a command over the IPC channel, the child answers.
 * `connect`: open the readers (the first one verifies every id), and with `stall` one client
 * that never reads and one that reads 1 KB every 100 ms. `catchUp`: wait until the verifier has
 * `lastId`. `finish`: let the slow one read the rest at full speed, wait for both, report, close.
 */
import {
  type RawSubscriber,
  rawReader,
  reader,
  type Subscriber,
  type Tail,
} from './sse-clients.js';

export type ClientCommand =
  | { cmd: 'connect'; port: number; readers: number; stall: boolean }
  | { cmd: 'catchUp'; lastId: number }
  | { cmd: 'finish'; lastId: number };

export interface ClientReport {
  verifier: Tail | undefined;
  slow: Tail | undefined;
  /** CPU this process used from `catchUp` to `finish`, in ms. */
  cpuMs: number;
}

const CATCH_UP_MS = 10_000;

let readers: Subscriber[] = [];
let stalled: RawSubscriber | undefined;
let slow: RawSubscriber | undefined;
let cpu = process.cpuUsage();

async function handle(msg: ClientCommand): Promise<unknown> {
  switch (msg.cmd) {
    case 'connect': {
      const url = `http://127.0.0.1:${msg.port}/v1/events`;
      for (let i = 0; i < msg.readers; i++) readers.push(await reader(url, i === 0));
      if (msg.stall) {
        stalled = await rawReader(msg.port, '/v1/events', 0, 0);
        slow = await rawReader(msg.port, '/v1/events', 1_024, 100);
      }
      return 'connected';
    }
    case 'catchUp':
      await readers[0]?.until(msg.lastId, CATCH_UP_MS);
      cpu = process.cpuUsage();
      return readers[0]?.tail.lastId ?? 0;
    case 'finish': {
      const used = process.cpuUsage(cpu);
      slow?.readAll();
      await Promise.all([
        readers[0]?.until(msg.lastId, CATCH_UP_MS),
        slow?.until(msg.lastId, CATCH_UP_MS),
      ]);
      const report: ClientReport = {
        verifier: readers[0]?.tail,
        slow: slow?.tail,
        cpuMs: (used.user + used.system) / 1000,
      };
      for (const r of readers) r.close();
      stalled?.close();
      slow?.close();
      readers = [];
      stalled = undefined;
      slow = undefined;
      return report;
    }
    default: {
      const unknown: never = msg;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

process.on('message', (msg: ClientCommand) => {
  handle(msg).then(
    (answer) => process.send?.({ ok: true, answer }),
    (err: unknown) => process.send?.({ ok: false, error: String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
