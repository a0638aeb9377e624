import { Type } from "typebox";
const s = Type.Object({ a: Type.Optional(Type.String()), b: Type.Union([Type.Literal("x"), Type.Literal("y")]), c: Type.Record(Type.String(), Type.Number()), d: Type.Enum(["p","q"]) , e: Type.Integer({minimum:1}), f: Type.ReadonlyType ? Type.Readonly(Type.String()) : Type.String(), g: Type.Null(), h: Type.Unsafe<string>({type:"string"})});
console.log(Reflect.ownKeys(s), Reflect.ownKeys(s.properties.a), Object.getOwnPropertyDescriptors(s.properties.a));
console.log(JSON.stringify(s, null, 1));
