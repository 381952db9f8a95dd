export { type FrontDoorOptions, McpFrontDoor, type SessionContext } from './front-door.js';
export { type McpHttpOptions, type McpHttpServer, startMcpHttp } from './http.js';
export { serveStdio } from './stdio.js';
export { MCP_TOOL_NAME, type TableProblem, ToolTable } from './tool-table.js';
