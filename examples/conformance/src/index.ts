/**
 * `conformance`: what the server scenarios of the official MCP conformance suite
 * (`@modelcontextprotocol/conformance`) call for, as one molt plugin. Names, texts and payloads
 * follow the suite's reference server (its `examples/servers/typescript/everything-server.ts`),
 * because the scenarios compare against them. Served with `molt serve DIR --tool-names bare`
 * (the scenarios call tools and prompts by their own names); test/mcp/conformance.test.ts runs
 * the suite against it.
 */
import { definePlugin, type JsonSchema, type ToolContext } from 'molt/plugin';

/** A 1×1 PNG and a tiny WAV: the suite checks only that the bytes come back as sent. */
const IMAGE_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const AUDIO_WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const noArgs = { type: 'object', properties: {} } as const;

/** Waits `ms`, or stops early when the call is cancelled. */
const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

const text = (t: string) => ({ content: [{ type: 'text', text: t }] });

/** Asks the calling client to fill in a form of `properties`, none required; echoes its answer. */
async function elicited(ctx: ToolContext, message: string, properties: Record<string, JsonSchema>) {
  const answer = await ctx.elicit({
    message,
    requestedSchema: { type: 'object', properties, required: [] },
  });
  return text(
    `Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`,
  );
}

export default definePlugin({
  tools: {
    test_simple_text: {
      description: 'Tests simple text content response',
      inputSchema: noArgs,
      handler: () => text('This is a simple text response for testing.'),
    },
    test_image_content: {
      description: 'Tests image content response',
      inputSchema: noArgs,
      handler: () => ({ content: [{ type: 'image', data: IMAGE_PNG, mimeType: 'image/png' }] }),
    },
    test_audio_content: {
      description: 'Tests audio content response',
      inputSchema: noArgs,
      handler: () => ({ content: [{ type: 'audio', data: AUDIO_WAV, mimeType: 'audio/wav' }] }),
    },
    test_embedded_resource: {
      description: 'Tests embedded resource content response',
      inputSchema: noArgs,
      handler: () => ({
        content: [
          {
            type: 'resource',
            resource: {
              uri: 'test://embedded-resource',
              mimeType: 'text/plain',
              text: 'This is an embedded resource content.',
            },
          },
        ],
      }),
    },
    test_multiple_content_types: {
      description: 'Tests response with multiple content types (text, image, resource)',
      inputSchema: noArgs,
      handler: () => ({
        content: [
          { type: 'text', text: 'Multiple content types test:' },
          { type: 'image', data: IMAGE_PNG, mimeType: 'image/png' },
          {
            type: 'resource',
            resource: {
              uri: 'test://mixed-content-resource',
              mimeType: 'application/json',
              text: JSON.stringify({ test: 'data', value: 123 }),
            },
          },
        ],
      }),
    },
    test_tool_with_logging: {
      description: 'Tests tool that emits log messages during execution',
      inputSchema: noArgs,
      handler: async (_args: unknown, ctx: ToolContext) => {
        ctx.log.info('Tool execution started');
        await pause(50, ctx.signal);
        ctx.log.info('Tool processing data');
        await pause(50, ctx.signal);
        ctx.log.info('Tool execution completed');
        return text('Tool with logging executed successfully');
      },
    },
    test_tool_with_progress: {
      description: 'Tests tool that reports progress notifications',
      inputSchema: noArgs,
      handler: async (_args: unknown, ctx: ToolContext) => {
        for (const done of [0, 50, 100]) {
          ctx.progress(done, 100, `Completed step ${done} of 100`);
          if (done < 100) await pause(50, ctx.signal);
        }
        return text('Progress reported');
      },
    },
    test_error_handling: {
      description: 'Tests error response handling',
      inputSchema: noArgs,
      handler: () => {
        throw new Error('This tool intentionally returns an error for testing');
      },
    },
    test_sampling: {
      description: 'Tests server-initiated sampling (LLM completion request)',
      inputSchema: {
        type: 'object',
        properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
        required: ['prompt'],
      },
      handler: async ({ prompt }: { prompt: string }, ctx: ToolContext) => {
        const answer = await ctx.sample({
          messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
          maxTokens: 100,
        });
        const reply = answer.content.type === 'text' ? answer.content.text : undefined;
        return text(`LLM response: ${typeof reply === 'string' ? reply : 'No response'}`);
      },
    },
    test_elicitation: {
      description: 'Tests server-initiated elicitation (user input request)',
      inputSchema: {
        type: 'object',
        properties: { message: { type: 'string', description: 'The message to show the user' } },
        required: ['message'],
      },
      handler: async ({ message }: { message: string }, ctx: ToolContext) => {
        const answer = await ctx.elicit({
          message,
          requestedSchema: {
            type: 'object',
            properties: { response: { type: 'string', description: "User's response" } },
            required: ['response'],
          },
        });
        return text(
          `User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`,
        );
      },
    },
    test_elicitation_sep1034_defaults: {
      description: 'Tests elicitation with default values per SEP-1034',
      inputSchema: noArgs,
      handler: (_args: unknown, ctx: ToolContext) =>
        elicited(ctx, 'Please review and update the form fields with defaults', {
          name: { type: 'string', description: 'User name', default: 'John Doe' },
          age: { type: 'integer', description: 'User age', default: 30 },
          score: { type: 'number', description: 'User score', default: 95.5 },
          status: {
            type: 'string',
            description: 'User status',
            enum: ['active', 'inactive', 'pending'],
            default: 'active',
          },
          verified: { type: 'boolean', description: 'Verification status', default: true },
        }),
    },
    test_elicitation_sep1330_enums: {
      description: 'Tests elicitation with enum schema improvements per SEP-1330',
      inputSchema: noArgs,
      handler: (_args: unknown, ctx: ToolContext) =>
        elicited(ctx, 'Please select options from the enum fields', {
          untitledSingle: {
            type: 'string',
            description: 'Select one option',
            enum: ['option1', 'option2', 'option3'],
          },
          titledSingle: {
            type: 'string',
            description: 'Select one option with titles',
            oneOf: [
              { const: 'value1', title: 'First Option' },
              { const: 'value2', title: 'Second Option' },
              { const: 'value3', title: 'Third Option' },
            ],
          },
          legacyEnum: {
            type: 'string',
            description: 'Select one option (legacy)',
            enum: ['opt1', 'opt2', 'opt3'],
            enumNames: ['Option One', 'Option Two', 'Option Three'],
          },
          untitledMulti: {
            type: 'array',
            description: 'Select multiple options',
            minItems: 1,
            maxItems: 3,
            items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
          },
          titledMulti: {
            type: 'array',
            description: 'Select multiple options with titles',
            minItems: 1,
            maxItems: 3,
            items: {
              anyOf: [
                { const: 'value1', title: 'First Choice' },
                { const: 'value2', title: 'Second Choice' },
                { const: 'value3', title: 'Third Choice' },
              ],
            },
          },
        }),
    },
    json_schema_2020_12_tool: {
      description: 'Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: {
          address: {
            type: 'object',
            properties: { street: { type: 'string' }, city: { type: 'string' } },
          },
        },
        properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
        additionalProperties: false,
      },
      handler: (args: unknown) =>
        text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
    },
  },

  resources: {
    'test://static-text': {
      name: 'static-text',
      title: 'Static Text Resource',
      description: 'A static text resource for testing',
      mimeType: 'text/plain',
      read: () => 'This is the content of the static text resource.',
    },
    'test://static-binary': {
      name: 'static-binary',
      title: 'Static Binary Resource',
      description: 'A static binary resource (image) for testing',
      mimeType: 'image/png',
      read: () => ({ blob: IMAGE_PNG, mimeType: 'image/png' }),
    },
    'test://template/{id}/data': {
      name: 'template',
      title: 'Resource Template',
      description: 'A resource template with parameter substitution',
      mimeType: 'application/json',
      read: (_uri, _ctx, { id }) =>
        JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
    },
    'test://watched-resource': {
      name: 'watched-resource',
      title: 'Watched Resource',
      description: 'A resource that subscribers hear about when it changes',
      mimeType: 'text/plain',
      read: () => 'Watched resource content',
    },
  },

  prompts: {
    test_simple_prompt: {
      title: 'Simple Test Prompt',
      description: 'A simple prompt without arguments',
      get: () => 'This is a simple prompt for testing.',
    },
    test_prompt_with_arguments: {
      title: 'Prompt With Arguments',
      description: 'A prompt with required arguments',
      arguments: [
        { name: 'arg1', description: 'First test argument', required: true },
        { name: 'arg2', description: 'Second test argument', required: true },
      ],
      get: ({ arg1, arg2 }) => `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`,
    },
    test_prompt_with_embedded_resource: {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that includes an embedded resource',
      arguments: [
        { name: 'resourceUri', description: 'URI of the resource to embed', required: true },
      ],
      get: ({ resourceUri = '' }) => ({
        messages: [
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: {
                uri: resourceUri,
                mimeType: 'text/plain',
                text: 'Embedded resource content for testing.',
              },
            },
          },
          {
            role: 'user',
            content: { type: 'text', text: 'Please process the embedded resource above.' },
          },
        ],
      }),
    },
    test_prompt_with_image: {
      title: 'Prompt With Image',
      description: 'A prompt that includes image content',
      get: () => ({
        messages: [
          { role: 'user', content: { type: 'image', data: IMAGE_PNG, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
      }),
    },
  },
});
