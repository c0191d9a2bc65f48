export { errorResponse } from "./http/error-response";
export { createHandler, json } from "./http/handler";
