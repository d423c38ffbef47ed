/**
 * Open BlazeFace's input to any size (multiples of 32), in memory, on the verified model bytes.
 *
 * The network is convolutional: nothing in it depends on the 256×256 input except what its
 * converter (tf2onnx, via Barracuda) froze into the graph:
 * - the declared input, output and intermediate shapes;
 * - the Reshape targets that flatten each head to `[1, anchors, k]` (512 and 384 at 256²);
 * - the channel padding of two residual shortcuts, written as `Concat(x, ConstantOfShape(zeros of a
 *   fixed 1×C×h×w))` on the channel axis.
 * Here the input and output sizes become symbolic, intermediate shapes are dropped (onnxruntime
 * infers them), the Reshape targets become `[1, -1, k]` and each padding becomes a `Pad` of C
 * channels, which is the same arithmetic at any size. At 256×256 the result computes exactly what
 * the original does (test/edge/detect-face-graph.test.ts compares the two on real frames).
 *
 * Why: a 720p frame searched at half size is one 640×384 run (3.75 times the work of a 256² run)
 * where overlapping 256² tiles needed six runs plus a coarse one. A graph that does not match
 * these patterns (another model pointed at by the manifest) is refused with
 * EDGE_ERR_MODEL_INCOMPATIBLE and the detector falls back to tiles.
 */
import { EdgeError } from '../errors.ts';
import {
  bytesField,
  decodeMessage,
  encodeMessage,
  fieldsNumbered,
  int64s,
  packedInt64Field,
  stringField,
  stringOf,
  strings,
  varintField,
  type WireField,
} from './proto-wire.ts';

// ONNX field numbers (onnx.proto).
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTR_NAME = 1;
const ATTR_I = 3;
const ATTR_T = 5;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_INT64_DATA = 7;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;
const INT64 = 7;

function incompatible(message: string): never {
  throw new EdgeError('EDGE_ERR_MODEL_INCOMPATIBLE', `cannot open the face model's input size: ${message}`);
}

/** Replace every field numbered `no` by `replacement` (in place of the first one). */
function replaceFields(
  fields: readonly WireField[],
  no: number,
  replacement: readonly WireField[],
): WireField[] {
  const at = fields.findIndex((f) => f.no === no);
  const rest = fields.filter((f) => f.no !== no);
  if (at < 0) return [...rest, ...replacement];
  const before = fields.slice(0, at).filter((f) => f.no !== no).length;
  return [...rest.slice(0, before), ...replacement, ...rest.slice(before)];
}

/** A tensor's int64 values (int64_data or little-endian raw_data). */
function int64Values(tensor: readonly WireField[]): bigint[] {
  const raw = fieldsNumbered(tensor, TENSOR_RAW_DATA).at(-1)?.bytes;
  if (raw !== undefined && raw.length > 0) {
    if (raw.length % 8 !== 0) incompatible('an int64 tensor has a ragged raw_data');
    const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
    return Array.from({ length: raw.length / 8 }, (_, i) => view.getBigInt64(i * 8, true));
  }
  return int64s(tensor, TENSOR_INT64_DATA);
}

function int64Tensor(name: string, values: readonly bigint[]): Uint8Array {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  for (const [i, v] of values.entries()) view.setBigInt64(i * 8, v, true);
  return encodeMessage([
    packedInt64Field(TENSOR_DIMS, [BigInt(values.length)]),
    varintField(TENSOR_DATA_TYPE, INT64),
    stringField(TENSOR_NAME, name),
    bytesField(TENSOR_RAW_DATA, raw),
  ]);
}

/** A value_info whose dims are replaced: a string becomes a symbolic dim, a number stays fixed. */
function withDims(valueInfo: Uint8Array, dims: (fixed: bigint, i: number) => bigint | string): Uint8Array {
  const vi = decodeMessage(valueInfo);
  const type = decodeMessage(fieldsNumbered(vi, VALUE_INFO_TYPE).at(-1)?.bytes ?? new Uint8Array(0));
  const tensor = decodeMessage(fieldsNumbered(type, TYPE_TENSOR).at(-1)?.bytes ?? new Uint8Array(0));
  const shape = decodeMessage(fieldsNumbered(tensor, TENSOR_TYPE_SHAPE).at(-1)?.bytes ?? new Uint8Array(0));
  const name = stringOf(vi, VALUE_INFO_NAME);
  const newDims = fieldsNumbered(shape, SHAPE_DIM).map((d, i) => {
    const value = int64s(decodeMessage(d.bytes), DIM_VALUE).at(-1);
    if (value === undefined) incompatible(`${name} has a symbolic dim already`);
    const next = dims(value, i);
    const dim = typeof next === 'string' ? stringField(DIM_PARAM, next) : varintField(DIM_VALUE, next);
    return bytesField(SHAPE_DIM, encodeMessage([dim]));
  });
  const newTensor = replaceFields(tensor, TENSOR_TYPE_SHAPE, [
    bytesField(TENSOR_TYPE_SHAPE, encodeMessage(replaceFields(shape, SHAPE_DIM, newDims))),
  ]);
  const newType = replaceFields(type, TYPE_TENSOR, [bytesField(TYPE_TENSOR, encodeMessage(newTensor))]);
  return encodeMessage(
    replaceFields(vi, VALUE_INFO_TYPE, [bytesField(VALUE_INFO_TYPE, encodeMessage(newType))]),
  );
}

/** Whether a ConstantOfShape node fills with zero (no `value` attribute, or a zero scalar). */
function fillsWithZero(node: readonly WireField[]): boolean {
  for (const a of fieldsNumbered(node, NODE_ATTRIBUTE)) {
    const attr = decodeMessage(a.bytes);
    if (stringOf(attr, ATTR_NAME) !== 'value') continue;
    const t = decodeMessage(fieldsNumbered(attr, ATTR_T).at(-1)?.bytes ?? new Uint8Array(0));
    const raw = fieldsNumbered(t, TENSOR_RAW_DATA).at(-1)?.bytes;
    const floats = fieldsNumbered(t, TENSOR_FLOAT_DATA).at(-1)?.bytes;
    const bytes = raw ?? floats ?? new Uint8Array(0);
    return bytes.every((b) => b === 0);
  }
  return true;
}

/** A Concat node's axis attribute. */
function concatAxis(node: readonly WireField[]): bigint | undefined {
  for (const a of fieldsNumbered(node, NODE_ATTRIBUTE)) {
    const attr = decodeMessage(a.bytes);
    if (stringOf(attr, ATTR_NAME) === 'axis') return int64s(attr, ATTR_I).at(-1);
  }
  return undefined;
}

/**
 * The BlazeFace model bytes with an input of any height and width (multiples of 32; the input
 * stays NHWC `[1, height, width, 3]`) and outputs `[1, anchors, 1 | 16]`. Throws
 * EDGE_ERR_MODEL_INCOMPATIBLE when the graph is not the one described above.
 */
export function openBlazefaceInput(model: Uint8Array): Uint8Array {
  const top = decodeMessage(model);
  const graphField = fieldsNumbered(top, MODEL_GRAPH).at(-1);
  if (graphField === undefined) incompatible('no graph');
  const graph = decodeMessage(graphField.bytes);

  const initializers = new Map<string, WireField[]>();
  for (const f of fieldsNumbered(graph, GRAPH_INITIALIZER)) {
    const t = decodeMessage(f.bytes);
    initializers.set(stringOf(t, TENSOR_NAME), t);
  }
  const nodes = fieldsNumbered(graph, GRAPH_NODE).map((f) => decodeMessage(f.bytes));
  const producer = new Map<string, WireField[]>();
  for (const n of nodes) for (const o of strings(n, NODE_OUTPUT)) producer.set(o, n);

  const replacedInit = new Map<string, Uint8Array>();
  const addedInit: Uint8Array[] = [];
  const dropped = new Set<WireField[]>();
  let reshapes = 0;
  const newNodes = nodes.map((n): WireField[] => {
    const op = stringOf(n, NODE_OP_TYPE);
    const inputs = strings(n, NODE_INPUT);
    if (op === 'Reshape') {
      const target = inputs[1] ?? '';
      const t = initializers.get(target);
      if (t === undefined) incompatible(`Reshape ${stringOf(n, NODE_NAME)} has a computed shape`);
      const shape = int64Values(t);
      if (shape.length !== 3 || shape[0] !== 1n) incompatible(`Reshape to [${shape.join(',')}]`);
      replacedInit.set(target, int64Tensor(target, [1n, -1n, shape[2] ?? 0n]));
      reshapes++;
      return n;
    }
    if (op !== 'Concat') return n;
    const zeros = inputs
      .map((i) => producer.get(i))
      .map((p) => (p !== undefined && stringOf(p, NODE_OP_TYPE) === 'ConstantOfShape' ? p : undefined));
    const k = zeros.findIndex((z) => z !== undefined);
    if (k < 0) return n;
    const zero = zeros[k] as WireField[];
    if (inputs.length !== 2 || concatAxis(n) !== 1n || !fillsWithZero(zero)) {
      incompatible(`Concat ${stringOf(n, NODE_NAME)} is not a zero channel padding`);
    }
    const shapeName = strings(zero, NODE_INPUT)[0] ?? '';
    const shapeTensor = initializers.get(shapeName);
    if (shapeTensor === undefined)
      incompatible(`ConstantOfShape ${stringOf(zero, NODE_NAME)} has a computed shape`);
    const channels = int64Values(shapeTensor)[1];
    if (channels === undefined || channels < 1n) incompatible('a channel padding of no channels');
    dropped.add(zero);
    const padsName = `${stringOf(n, NODE_OUTPUT)}__sharpeyes_pads`;
    // NCHW: pad `channels` zero channels after (or, if the zeros come first, before) the data.
    addedInit.push(
      int64Tensor(
        padsName,
        k === 1 ? [0n, 0n, 0n, 0n, 0n, channels, 0n, 0n] : [0n, channels, 0n, 0n, 0n, 0n, 0n, 0n],
      ),
    );
    return [
      stringField(NODE_INPUT, inputs[1 - k] ?? ''),
      stringField(NODE_INPUT, padsName),
      ...fieldsNumbered(n, NODE_OUTPUT),
      ...fieldsNumbered(n, NODE_NAME),
      stringField(NODE_OP_TYPE, 'Pad'),
    ];
  });
  if (reshapes !== 4) incompatible(`expected 4 output Reshapes, found ${reshapes}`);

  const inputs = fieldsNumbered(graph, GRAPH_INPUT);
  const outputs = fieldsNumbered(graph, GRAPH_OUTPUT);
  if (inputs.length !== 1 || outputs.length !== 4) incompatible('expected 1 input and 4 outputs');
  const input = withDims((inputs[0] as WireField).bytes, (v, i) => {
    if ((i === 1 || i === 2) && v % 32n !== 0n) incompatible('input sides are not multiples of 32');
    return i === 1 ? 'height' : i === 2 ? 'width' : v;
  });
  const newOutputs = outputs.map((o, j) => withDims(o.bytes, (v, i) => (i === 1 ? `anchors_${j}` : v)));

  const newGraph = graph
    .filter((f) => f.no !== GRAPH_VALUE_INFO)
    .map((f): WireField => {
      if (f.no !== GRAPH_INITIALIZER) return f;
      const name = stringOf(decodeMessage(f.bytes), TENSOR_NAME);
      const replaced = replacedInit.get(name);
      return replaced === undefined ? f : bytesField(GRAPH_INITIALIZER, replaced);
    });
  let patched = replaceFields(
    newGraph,
    GRAPH_NODE,
    newNodes.filter((n) => !dropped.has(n)).map((n) => bytesField(GRAPH_NODE, encodeMessage(n))),
  );
  patched = replaceFields(patched, GRAPH_INPUT, [bytesField(GRAPH_INPUT, input)]);
  patched = replaceFields(
    patched,
    GRAPH_OUTPUT,
    newOutputs.map((o) => bytesField(GRAPH_OUTPUT, o)),
  );
  patched = [...patched, ...addedInit.map((t) => bytesField(GRAPH_INITIALIZER, t))];
  return encodeMessage(replaceFields(top, MODEL_GRAPH, [bytesField(MODEL_GRAPH, encodeMessage(patched))]));
}
