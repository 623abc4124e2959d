/**
 * API Gateway's request body validation, from the template's models: a method whose request validator checks
 * bodies refuses a body that does not match its `application/json` model (JSON Schema draft-04) with
 * BAD_REQUEST_BODY before any function runs. The models here use nothing draft-04 and draft-07 disagree on,
 * so Ajv (draft-07) validates them with the `$schema` line dropped.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { ApiMethodModel } from './model.js';

/** Compiles each method's model once; `validate` answers undefined for a valid body, else why not. */
export function requestBodyValidator(): (method: ApiMethodModel, body: unknown) => string | undefined {
  const ajv = new Ajv({ strict: false, allErrors: false });
  const compiled = new Map<ApiMethodModel, ValidateFunction>();
  return (method, body) => {
    if (!method.requestModel) return undefined;
    let validate = compiled.get(method);
    if (!validate) {
      const { $schema: _draft, ...schema } = method.requestModel;
      validate = ajv.compile(schema);
      compiled.set(method, validate);
    }
    if (validate(body)) return undefined;
    const first = validate.errors?.[0];
    return first ? `${first.instancePath || '/'} ${first.message ?? 'is invalid'}` : 'is invalid';
  };
}
