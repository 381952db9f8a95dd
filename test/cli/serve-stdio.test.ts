/**
 * The process life of `molt serve --stdio`, as the client that spawned it sees it: it ends with 0
 * when the client closes stdin; SIGTERM stops it gracefully with 0; a host that dies of a signal
 * is seen dying of it; a client that SIGKILLs it leaves no host running; a host that cannot
 * start exits with its error code and writes nothing on stdout.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { MOLT_BIN, molt } from '../helpers/cli.js';
import { textOf } from '../helpers/mcp.js';
import { connectStdio } from '../helpers/stdio.js';

const roots: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(roots.map((d) => rm(d, { recursive: true, force: true })));
});

async function pluginsFolder(label: string, source = versionPlugin('one')): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), `molt-serve-stdio-${label}-`));
  roots.push(root);
  await mkdir(join(root, 'plugins'));
  await rename(await writeArtifact({ name: 'calc', source }), join(root, 'plugins', 'calc'));
  return root;
}

/** `molt serve --stdio` spawned directly: its raw stdout and stderr, and how it ended. */
function spawnStdio(root: string) {
  const child = spawn(
    process.execPath,
    [MOLT_BIN, 'serve', join(root, 'plugins'), '--stdio', '--data', join(root, 'data')],
    { stdio: 'pipe' },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const ready = new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/^mcp: stdio$/m.test(stderr)) resolve();
    }),
  );
  return {
    child,
    ready,
    /** Resolves once every process holding the stderr pipe (the host too) has let go of it. */
    stderrEnded: new Promise<void>((resolve) => child.stderr.once('end', resolve)),
    exited: new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (code, signal) => resolve([code, signal])),
    ),
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}

test('molt serve --stdio ends with 0 when the client closes stdin, writing nothing on stdout', {
  timeout: 30_000,
}, async () => {
  const root = await pluginsFolder('eof');
  const server = spawnStdio(root);
  await server.ready;
  server.child.stdin.end();
  assert.deepEqual(await server.exited, [0, null], server.stderr);
  await server.stderrEnded;
  assert.equal(server.stdout, '');
});

test('molt serve --stdio whose host is SIGKILLed dies of SIGKILL too', {
  timeout: 30_000,
}, async () => {
  const root = await pluginsFolder('host-killed');
  const server = spawnStdio(root);
  await server.ready;
  // The data folder's lock names the process that runs the host.
  process.kill(Number(await readFile(join(root, 'data', 'lock'), 'utf8')), 'SIGKILL');
  assert.deepEqual(await server.exited, [null, 'SIGKILL']);
});

test('molt serve --stdio SIGKILLed by its client leaves no host behind', {
  timeout: 30_000,
}, async () => {
  const root = await pluginsFolder('client-kills');
  const server = spawnStdio(root);
  await server.ready;
  const lock = join(root, 'data', 'lock');
  const host = await readFile(lock, 'utf8');
  server.child.kill('SIGKILL');
  await server.exited;
  // The host has exited (it held the stderr pipe), and stopped cleanly: it released its lock.
  await server.stderrEnded;
  await assert.rejects(readFile(lock, 'utf8'), { code: 'ENOENT' }, `host ${host} left its lock`);
});

test('molt serve --stdio on SIGTERM stops gracefully and exits with 0', {
  timeout: 30_000,
}, async () => {
  const root = await pluginsFolder('sigterm');
  const session = await connectStdio([join(root, 'plugins'), '--data', join(root, 'data')]);
  try {
    assert.equal(
      textOf(await session.client.callTool({ name: 'calc__version', arguments: {} })),
      'one',
    );
    process.kill(session.transport.pid!, 'SIGTERM');
    await session.onStderr(/^stopping:/m);
    assert.deepEqual(await session.exited, { code: 0, signal: null });
  } finally {
    await session.close();
  }
});

test('molt serve --stdio that cannot start exits with its code and leaves stdout empty', {
  timeout: 30_000,
}, async () => {
  const root = await pluginsFolder('locked');
  const args = [join(root, 'plugins'), '--data', join(root, 'data')];
  const first = await connectStdio(args);
  try {
    const second = await molt(['serve', ...args, '--stdio']);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /^molt: DATA_LOCKED /m);
    assert.equal(second.stdout, '');
    assert.equal(
      textOf(await first.client.callTool({ name: 'calc__version', arguments: {} })),
      'one',
    );
  } finally {
    await first.close();
  }
});
