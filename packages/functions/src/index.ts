export { createHandler, json } from "./http/handler";
export { errorResponse, statusOf } from "./http/error-response";
