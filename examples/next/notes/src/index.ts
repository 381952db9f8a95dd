/**
 * `notes` v2: notes can be pinned, and the state changes shape (`stateVersion: 2`): notes are
 * kept by id, each with a `pinned` flag. `migrate()` brings v1's state up; `downgrade()` takes
 * it back to v1's shape, so `molt rollback notes` across this change keeps every note (a pin
 * is all v1 cannot keep). Drop its .molt (`molt pack examples/next/notes`) into the plugins
 * folder to try it.
 */
import { definePlugin } from 'molt/plugin';

const note = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    text: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
    pinned: { type: 'boolean' },
  },
  required: ['id', 'text', 'tags', 'createdAt', 'pinned'],
  additionalProperties: false,
} as const;

const stateSchema = {
  type: 'object',
  properties: {
    nextId: { type: 'integer', minimum: 1 },
    byId: { type: 'object', additionalProperties: note },
  },
  required: ['nextId', 'byId'],
  additionalProperties: false,
} as const;

interface Note {
  id: number;
  text: string;
  tags: string[];
  createdAt: string;
  pinned: boolean;
}

/** v1's shape, what `migrate` reads and `downgrade` writes. */
interface NotesV1 {
  nextId: number;
  notes: Omit<Note, 'pinned'>[];
}

let nextId = 1;
const notes = new Map<number, Note>();

export default definePlugin({
  stateVersion: 2,
  stateSchema,
  tools: {
    add: {
      description: 'Saves a short note (with optional tags) and returns it with its id.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', minLength: 1 },
          tags: { type: 'array', items: { type: 'string', minLength: 1 } },
        },
        required: ['text'],
        additionalProperties: false,
      },
      handler: ({ text, tags = [] }: { text: string; tags?: string[] }): Note => {
        const created = {
          id: nextId++,
          text,
          tags,
          createdAt: new Date().toISOString(),
          pinned: false,
        };
        notes.set(created.id, created);
        return created;
      },
    },
    list: {
      description: 'Lists the notes, pinned first, then oldest first. Returns { count, notes }.',
      inputSchema: {
        type: 'object',
        properties: { tag: { type: 'string' } },
        additionalProperties: false,
      },
      handler: ({ tag }: { tag?: string }) => {
        const found = [...notes.values()]
          .filter((n) => tag === undefined || n.tags.includes(tag))
          .sort((a, b) => Number(b.pinned) - Number(a.pinned) || a.id - b.id);
        return { count: found.length, notes: found };
      },
    },
    pin: {
      description: 'Pins the note with the given id to the top of the list.',
      inputSchema: {
        type: 'object',
        properties: { id: { type: 'integer', minimum: 1 } },
        required: ['id'],
        additionalProperties: false,
      },
      handler: ({ id }: { id: number }) => {
        const found = notes.get(id);
        if (found === undefined) throw new Error(`there is no note with id ${id}`);
        found.pinned = true;
        return found;
      },
    },
    delete: {
      description: 'Deletes the note with the given id and returns it.',
      inputSchema: {
        type: 'object',
        properties: { id: { type: 'integer', minimum: 1 } },
        required: ['id'],
        additionalProperties: false,
      },
      handler: ({ id }: { id: number }) => {
        const found = notes.get(id);
        if (found === undefined) throw new Error(`there is no note with id ${id}`);
        notes.delete(id);
        return { deleted: found };
      },
    },
  },
  snapshot: () => ({
    nextId,
    byId: Object.fromEntries([...notes].map(([id, n]) => [String(id), n])),
  }),
  restore: (state) => {
    nextId = state.nextId;
    notes.clear();
    for (const n of Object.values(state.byId)) notes.set(n.id, { ...n, tags: [...n.tags] });
  },
  migrate: (fromVersion, state) => {
    if (fromVersion !== 1) throw new Error(`no way up from state version ${fromVersion}`);
    const v1 = state as NotesV1;
    const byId = Object.fromEntries(v1.notes.map((n) => [String(n.id), { ...n, pinned: false }]));
    return { nextId: v1.nextId, byId };
  },
  downgrade: (toVersion, state): NotesV1 => {
    if (toVersion !== 1) throw new Error(`no way down to state version ${toVersion}`);
    const all = Object.values(state.byId).sort((a, b) => a.id - b.id);
    return {
      nextId: state.nextId,
      notes: all.map(({ pinned: _pinned, ...rest }) => ({ ...rest, tags: [...rest.tags] })),
    };
  },
});
