/**
 * Child of the raw process baselines (raw-process.ts). `framed`: molt's framing over fd 3 (a
 * 4-byte length and the V8 serialization, frames.ts), one frame per reply, read with molt's
 * FrameReader, as process-main.ts does. `ipc`: Node's own IPC channel, serialization 'advanced'.
 * Both answer {t:'call', id} with {t:'ok', id, value: 1}, and say {t:'ready'} first.
 */
import { Socket } from 'node:net';
import { encodeFrame, FrameReader } from '../src/sandbox/frames.js';

interface Call {
  id: number;
}

if (process.argv[2] === 'ipc') {
  process.on('message', (m: Call) => process.send!({ t: 'ok', id: m.id, value: 1 }));
  process.send!({ t: 'ready' });
} else {
  const channel = new Socket({ fd: 3, readable: true, writable: true });
  const reader = new FrameReader(
    Number.MAX_SAFE_INTEGER,
    (m) => channel.write(encodeFrame({ t: 'ok', id: (m as Call).id, value: 1 })),
    () => process.exit(70),
  );
  channel.on('data', (chunk: Buffer) => reader.push(chunk));
  channel.on('close', () => process.exit(0));
  channel.on('error', () => process.exit(0));
  channel.write(encodeFrame({ t: 'ready' }));
}
