// The request fields that name and parameterise a model call, read from its body once.

export interface ModelRequest {
  model?: string;
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
}
