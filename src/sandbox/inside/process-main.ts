/**
 * Entry of a process sandbox: the runtime, connected to the host over fd 3 (framed V8
 * serialization, see frames.ts). Started with Node's permission model, so plugin code reads
 * only its artifact and data folders and writes only the latter, unless granted more.
 */
import { Socket } from 'node:net';
import { encodeFrame, FrameReader } from '../frames.js';
import type { CallBatch, HostMessage } from '../protocol.js';
import { guardSignals } from './guards.js';
import { createRuntime } from './runtime.js';

// The permission model does not cover signals: a plugin may signal itself only.
const self = process.pid;
guardSignals((pid) => pid === self);

const channel = new Socket({ fd: 3, readable: true, writable: true });
const runtime = createRuntime((msg) => {
  channel.write(encodeFrame(msg));
});
// The host is the only writer: no cap on what it sends.
const reader = new FrameReader(
  Number.MAX_SAFE_INTEGER,
  (msg) => runtime.onMessage(msg as HostMessage | CallBatch),
  () => process.exit(70),
);
channel.on('data', (chunk: Buffer) => reader.push(chunk));
// The host is gone (or ended the channel): nothing is left to serve.
channel.on('close', () => process.exit(0));
channel.on('error', () => process.exit(0));
