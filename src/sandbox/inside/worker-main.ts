/** Entry of a worker-thread sandbox: the runtime, connected to the thread's parent port. */
import { Session } from 'node:inspector';
import { Session as PromiseSession } from 'node:inspector/promises';
import { parentPort } from 'node:worker_threads';
import type { CallBatch, HostMessage } from '../protocol.js';
import { budgetOutput, guardInspector, guardSignals } from './guards.js';
import { createRuntime } from './runtime.js';

const port = parentPort;
if (port === null) throw new Error('molt sandbox entry must run in a worker thread');
// A worker shares the host's pid: a signal to it, its parent or its group would end the host.
const host = process.pid;
const parent = process.ppid;
guardSignals((pid) => pid !== host && pid !== parent);
guardInspector([Session, PromiseSession]);
const runtime = createRuntime((msg) => port.postMessage(msg));
budgetOutput((bytes) => runtime.droppedOutput(bytes));
port.on('message', (msg: HostMessage | CallBatch) => runtime.onMessage(msg));
