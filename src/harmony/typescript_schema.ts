/**
 * JSON Schema → the TypeScript-like declarations Harmony uses for function tools. Matches the reference
 * renderer (openai/harmony `json_schema_to_typescript`) output for objects, enums, arrays, oneOf, nullable,
 * titles, descriptions, examples and defaults; the tests compare against its published examples.
 */

type _Schema = Record<string, unknown>;

function _isEnum(schema: _Schema): boolean {
  return Array.isArray(schema.enum) && schema.enum.length > 0;
}

function _defaultComment(schema: _Schema): string {
  const value = schema.default;
  if (typeof value === "string") return _isEnum(schema) ? `default: ${value}` : `default: "${value}"`;
  return `default: ${JSON.stringify(value)}`;
}

function _nullable(schema: _Schema, type: string): string {
  return schema.nullable === true && !type.includes("null") ? `${type} | null` : type;
}

/** Renders one schema at the given indentation. */
export function schemaToTypeScript(schema: _Schema, indent: string): string {
  if (Array.isArray(schema.oneOf)) {
    let out = "";
    for (const variant of schema.oneOf as _Schema[]) {
      out += `\n${indent} | ` + _nullable(variant, schemaToTypeScript(variant, `${indent}   `));
      const comments: string[] = [];
      if (typeof variant.description === "string") comments.push(variant.description);
      if ("default" in variant) comments.push(_defaultComment(variant));
      if (comments.length > 0) out += ` // ${comments.join(" ")}`;
    }
    return out;
  }
  if (Array.isArray(schema.type)) {
    const types = (schema.type as unknown[]).filter((t): t is string => typeof t === "string")
      .map((t) => (t === "integer" ? "number" : t));
    if (types.length > 0) return types.join(" | ");
  }
  switch (schema.type) {
    case "object":
      return _object(schema, indent);
    case "string":
      if (_isEnum(schema)) {
        const values = (schema.enum as unknown[]).filter((v) => typeof v === "string").map((v) => `"${v}"`);
        if (values.length > 0) return values.join(" | ");
      }
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "array":
      return schema.items && typeof schema.items === "object"
        ? `${schemaToTypeScript(schema.items as _Schema, indent)}[]`
        : "Array<any>";
    default:
      return "any";
  }
}

function _object(schema: _Schema, indent: string): string {
  let out = typeof schema.description === "string" ? `${indent}// ${schema.description}\n` : "";
  out += "{\n";
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const properties =
    (schema.properties && typeof schema.properties === "object" ? schema.properties : {}) as Record<
      string,
      _Schema
    >;
  for (const [key, value] of Object.entries(properties)) {
    const optional = required.has(key) ? "" : "?";
    if (typeof value.title === "string") out += `${indent}// ${value.title}\n${indent}//\n`;
    if (!Array.isArray(value.oneOf) && typeof value.description === "string") {
      out += `${indent}// ${value.description}\n`;
    }
    if (Array.isArray(value.examples) && value.examples.length > 0) {
      out += `${indent}// Examples:\n`;
      for (const example of value.examples) {
        if (typeof example === "string") out += `${indent}// - "${example}"\n`;
      }
    }
    if (Array.isArray(value.oneOf)) {
      out += _oneOfProperty(key, optional, value, indent);
      continue;
    }
    out += `${indent}${key}${optional}: ${_nullable(value, schemaToTypeScript(value, `${indent}    `))},`;
    if ("default" in value) out += ` // ${_defaultComment(value)}`;
    out += "\n";
  }
  return out + `${indent}}`;
}

function _oneOfProperty(key: string, optional: string, value: _Schema, indent: string): string {
  const variants = value.oneOf as _Schema[];
  const description = typeof value.description === "string" ? value.description : undefined;
  const skipDescription = description !== undefined && variants[0]?.description === description;
  let out = "";
  const describedAbove = description !== undefined && !skipDescription;
  if (describedAbove) out += `${indent}// ${description}\n`;
  if ("default" in value) out += `${indent}// ${_defaultComment(value)}\n`;
  out += `${indent}${key}${optional}:\n`;
  for (const [i, variant] of variants.entries()) {
    out += `${indent} | ` + _nullable(variant, schemaToTypeScript(variant, `${indent}   `));
    const comments: string[] = [];
    if (
      !(i === 0 && describedAbove) && typeof variant.description === "string" &&
      variant.description !== description
    ) {
      comments.push(variant.description);
    }
    if ("default" in variant) comments.push(_defaultComment(variant));
    if (comments.length > 0) out += ` // ${comments.join(" ")}`;
    out += "\n";
  }
  return out + `${indent},\n`;
}
