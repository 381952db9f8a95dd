/**
 * `text`: a stateless molt plugin. Its tools are pure functions of their input, so a reload has
 * no state to hand over: the new version simply starts serving the next call.
 *
 * Served over MCP as `text__slugify`, `text__word_count` and `text__reverse`.
 * Try a live change: edit a tool below, bump "version" in package.json, then
 *   npm run molt -- pack examples/plugins/text -o .molt-demo/plugins
 */
import { definePlugin } from 'molt/plugin';

/** User-perceived characters, so that "é" or "👍🏽" stay whole when reversed. */
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const words = new Intl.Segmenter(undefined, { granularity: 'word' });

function countWords(text: string): number {
  let n = 0;
  for (const s of words.segment(text)) if (s.isWordLike) n++;
  return n;
}

export default definePlugin({
  tools: {
    slugify: {
      description:
        'Turns a title or phrase into a URL-safe slug: lowercase ASCII letters and digits joined ' +
        'by a separator, accents removed (e.g. "Héllo, Wörld!" → "hello-world"). Returns the slug as text.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', description: 'The text to turn into a slug.' },
          separator: {
            type: 'string',
            enum: ['-', '_', '.'],
            default: '-',
            description: 'Character placed between words (default "-").',
          },
          maxLength: {
            type: 'integer',
            minimum: 1,
            maximum: 200,
            description: 'Cut the slug to at most this many characters, at a word boundary.',
          },
        },
        required: ['text'],
        additionalProperties: false,
      },
      // Called by `molt soak` while it reloads the plugin (not listed over MCP).
      examples: [
        { text: 'Héllo, Wörld!' },
        { text: 'A Tale of Two Cities', separator: '_', maxLength: 12 },
      ],
      handler: ({
        text,
        separator = '-',
        maxLength,
      }: {
        text: string;
        separator?: string;
        maxLength?: number;
      }): string => {
        const parts = text
          .normalize('NFKD')
          .replace(/\p{M}/gu, '')
          .toLowerCase()
          .split(/[^a-z0-9]+/)
          .filter((w) => w.length > 0);
        let slug = parts.join(separator);
        if (maxLength !== undefined && slug.length > maxLength) {
          const cut = slug.slice(0, maxLength + 1);
          const at = cut.lastIndexOf(separator);
          slug = at > 0 ? cut.slice(0, at) : slug.slice(0, maxLength);
        }
        return slug;
      },
    },

    word_count: {
      description:
        'Counts the words, characters, lines and sentences of a text, and estimates its reading ' +
        'time at 200 words per minute. Returns an object with those numbers.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', description: 'The text to measure.' },
        },
        required: ['text'],
        additionalProperties: false,
      },
      // Called by `molt soak` while it reloads the plugin (not listed over MCP).
      examples: [{ text: 'The quick brown fox jumps over the lazy dog.' }],
      handler: ({ text }: { text: string }) => {
        const wordCount = countWords(text);
        return {
          words: wordCount,
          characters: [...graphemes.segment(text)].length,
          lines: text.length === 0 ? 0 : text.split(/\r\n|\r|\n/).length,
          sentences: (text.match(/[^.!?…]*\p{L}[^.!?…]*(?:[.!?…]+|$)/gu) ?? []).length,
          readingMinutes: Math.round((wordCount / 200) * 10) / 10,
        };
      },
    },

    reverse: {
      description:
        'Reverses a text, either character by character (accents and emoji kept whole) or word ' +
        'by word. Returns the reversed text.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', description: 'The text to reverse.' },
          by: {
            type: 'string',
            enum: ['characters', 'words'],
            default: 'characters',
            description: '"characters" reverses every character; "words" reverses the word order.',
          },
        },
        required: ['text'],
        additionalProperties: false,
      },
      // Called by `molt soak` while it reloads the plugin (not listed over MCP).
      examples: [{ text: 'molt 🐍' }, { text: 'sheds its old skin', by: 'words' }],
      handler: ({ text, by = 'characters' }: { text: string; by?: 'characters' | 'words' }) =>
        by === 'words'
          ? text.trim().split(/\s+/).reverse().join(' ')
          : Array.from(graphemes.segment(text), (s) => s.segment)
              .reverse()
              .join(''),
    },
  },
});
