/** Entry of a worker-thread sandbox: the runtime, connected to the thread's parent port. */
import { parentPort } from 'node:worker_threads';
import type { CallBatch, HostMessage } from '../protocol.js';
import { createRuntime } from './runtime.js';

const port = parentPort;
if (port === null) throw new Error('molt sandbox entry must run in a worker thread');
const runtime = createRuntime((msg) => port.postMessage(msg));
port.on('message', (msg: HostMessage | CallBatch) => runtime.onMessage(msg));
