/**
 * `notes`: a stateful molt plugin. The notes live in this generation's memory; on a reload molt
 * drains the old generation, takes its `snapshot()` and `restore()`s it into the new one, so the
 * notes survive every new version of this code; molt also checkpoints them to its data folder,
 * so they survive a restart of the host. The `stateSchema` is checked before any state is
 * restored; `examples/next/notes` is a v2 that changes the state's shape (and knows the way back).
 *
 * Served over MCP as `notes__add`, `notes__list` and `notes__delete`; the notes are also
 * resources (`notes://all`, and `notes://note/{id}` with its ids completed) that subscribers hear
 * change, and `notes__summarize` is a prompt over them.
 */
import { definePlugin } from 'molt/plugin';

interface Note {
  id: number;
  text: string;
  tags: string[];
  createdAt: string;
}

/** What a reload hands over. Change its shape? Bump `stateVersion` and add `migrate()`. */
const stateSchema = {
  type: 'object',
  properties: {
    nextId: { type: 'integer', minimum: 1 },
    notes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          text: { type: 'string' },
          tags: { type: 'array', items: { type: 'string' } },
          createdAt: { type: 'string' },
        },
        required: ['id', 'text', 'tags', 'createdAt'],
        additionalProperties: false,
      },
    },
  },
  required: ['nextId', 'notes'],
  additionalProperties: false,
} as const;

let nextId = 1;
const notes = new Map<number, Note>();

const line = (n: Note): string => `#${n.id} [${n.tags.join(', ')}] ${n.text}`;

export default definePlugin({
  stateVersion: 1,
  stateSchema,
  tools: {
    add: {
      description:
        'Saves a short note (with optional tags) and returns it with its id. Notes are kept ' +
        'while the server runs, across plugin reloads.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', minLength: 1, description: 'The content of the note.' },
          tags: {
            type: 'array',
            items: { type: 'string', minLength: 1 },
            description: 'Optional labels to find the note by later, e.g. ["todo", "work"].',
          },
        },
        required: ['text'],
        additionalProperties: false,
      },
      // Called by `molt soak` while it reloads the plugin (not listed over MCP).
      examples: [{ text: 'Buy milk', tags: ['todo'] }, { text: 'Call Ada' }],
      handler: ({ text, tags = [] }: { text: string; tags?: string[] }, ctx): Note => {
        const note = { id: nextId++, text, tags, createdAt: new Date().toISOString() };
        notes.set(note.id, note);
        ctx.resourceUpdated('notes://all');
        return note;
      },
    },

    list: {
      description:
        'Lists the saved notes, oldest first, optionally only those with a tag or containing ' +
        'some text. Returns { count, notes: [{ id, text, tags, createdAt }] }.',
      inputSchema: {
        type: 'object',
        properties: {
          tag: { type: 'string', description: 'Only notes that have this tag.' },
          contains: {
            type: 'string',
            description: 'Only notes whose text contains this (case-insensitive).',
          },
        },
        additionalProperties: false,
      },
      // Called by `molt soak` while it reloads the plugin (not listed over MCP).
      examples: [{}, { tag: 'todo' }, { contains: 'ada' }],
      handler: ({ tag, contains }: { tag?: string; contains?: string }) => {
        const needle = contains?.toLowerCase();
        const found = [...notes.values()].filter(
          (n) =>
            (tag === undefined || n.tags.includes(tag)) &&
            (needle === undefined || n.text.toLowerCase().includes(needle)),
        );
        return { count: found.length, notes: found };
      },
    },

    delete: {
      description: 'Deletes the note with the given id and returns it. Fails if there is none.',
      inputSchema: {
        type: 'object',
        properties: {
          id: { type: 'integer', minimum: 1, description: 'The id returned by add or list.' },
        },
        required: ['id'],
        additionalProperties: false,
      },
      handler: ({ id }: { id: number }, ctx) => {
        const note = notes.get(id);
        if (note === undefined) throw new Error(`there is no note with id ${id}`);
        notes.delete(id);
        ctx.resourceUpdated('notes://all');
        ctx.resourceUpdated(`notes://note/${id}`);
        return { deleted: note };
      },
    },
  },

  resources: {
    'notes://all': {
      name: 'All notes',
      description: 'Every saved note, oldest first, one per line as "#id [tags] text".',
      read: () => [...notes.values()].map(line).join('\n'),
    },
    'notes://note/{id}': {
      name: 'A note',
      description: 'One note as JSON, by its id.',
      mimeType: 'application/json',
      read: (uri, _ctx, { id }) => {
        const note = notes.get(Number(id));
        if (note === undefined) throw new Error(`there is no note at ${uri}`);
        return JSON.stringify(note);
      },
      complete: {
        id: (value) => [...notes.keys()].map(String).filter((id) => id.startsWith(value)),
      },
    },
  },

  prompts: {
    summarize: {
      description: 'Asks the model to summarize the saved notes, optionally only those with a tag.',
      arguments: [{ name: 'tag', description: 'Only notes with this tag.' }],
      get: ({ tag }) => {
        const chosen = [...notes.values()].filter((n) => tag === undefined || n.tags.includes(tag));
        return `Summarize these ${chosen.length} note(s) in a few bullet points:\n\n${chosen.map(line).join('\n')}`;
      },
      complete: {
        tag: (value) =>
          [...new Set([...notes.values()].flatMap((n) => n.tags))].filter((t) =>
            t.startsWith(value),
          ),
      },
    },
  },

  snapshot: () => ({ nextId, notes: [...notes.values()] }),
  restore: (state) => {
    nextId = state.nextId;
    notes.clear();
    for (const note of state.notes) notes.set(note.id, note);
  },
});
