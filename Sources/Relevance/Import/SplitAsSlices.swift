/// ONNX Split imported as one Slice node per output (opsets 2 to 18).
///
/// The pieces along `axis` (attribute, default 0) are, in order:
/// - the sizes in `split` (an attribute before opset 13, the second input from 13 on), when
///   given; they must be constants at import;
/// - else `num_outputs` (opset 18) or as many as the node has outputs, of ⌈d / n⌉ elements
///   each, the last one smaller when n does not divide the axis size d (opset 18's rule; older
///   opsets require n to divide d, where this is the same equal split).
/// The axis size d is known only once the input shape is bound, so the equal split's bounds
/// are written as shape arithmetic that shape inference folds: c = (Shape(x)[axis] + n − 1) / n,
/// piece i = Slice(x, starts: c·i, ends: c·(i + 1), axes: [axis]) (Slice clamps the last end).
struct SplitAsSlices {
  let record: ONNXFile.NodeRecord
  let opset: Int
  let attributes: ONNXAttributes
  let inputs: [ValueName]
  let fail: (String) -> ModelError
  /// Adds a constant under a fresh name derived from the node's and returns that name.
  let addConstant: (Constant, String) -> ValueName
  /// A value name derived from the node's that no constant holds.
  let freshName: (String) -> ValueName

  func nodes(knownConstant: (Int) -> Constant?) throws -> [Node] {
    guard !inputs.isEmpty, !inputs[0].isEmpty else { throw fail("has no input") }
    let x = inputs[0], outputs = record.outputs
    let axis = try attributes.int("axis", 0)
    var sizes: [Int]? = nil
    if opset < 13 {
      sizes = try attributes.ints("split")
    } else if inputs.count > 1 {
      guard let split = knownConstant(1) else {
        throw fail("its split input '\(inputs[1])' must be a constant")
      }
      sizes = split.ints
    }
    let pieces: Int
    if let sizes {
      guard sizes.count == outputs.count else {
        throw fail("split \(sizes) has \(sizes.count) entries for \(outputs.count) outputs")
      }
      guard sizes.allSatisfy({ $0 > 0 && $0 <= maxTensorElements }) else { throw fail("split sizes \(sizes) must be positive") }
      if opset >= 18, attributes.has("num_outputs") { throw fail("gives both the split input and num_outputs") }
      pieces = sizes.count
    } else if opset >= 18 {
      guard attributes.has("num_outputs") else { throw fail("needs the split input or the num_outputs attribute") }
      pieces = try attributes.int("num_outputs", 0)
      guard pieces == outputs.count else { throw fail("num_outputs \(pieces) differs from its \(outputs.count) outputs") }
    } else {
      pieces = outputs.count
    }
    let axes = addConstant(Constant(shape: [1], ints: [axis]), "axes")
    func slice(_ i: Int, starts: ValueName, ends: ValueName) -> Node {
      Node(name: outputs.count == 1 ? record.name : "\(record.name)[\(i)]", op: .slice,
           inputs: [x, starts, ends, axes], outputs: [outputs[i]], sourceOpType: record.opType)
    }
    if let sizes {
      var start = 0
      return sizes.enumerated().map { i, size in
        defer { start += size }
        return slice(i, starts: addConstant(Constant(shape: [1], ints: [start]), "starts\(i)"),
                     ends: addConstant(Constant(shape: [1], ints: [start + size]), "ends\(i)"))
      }
    }
    var nodes: [Node] = []
    func arithmetic(_ suffix: String, _ op: Op, _ operands: [ValueName]) -> ValueName {
      let output = freshName(suffix)
      nodes.append(Node(name: output, op: op, inputs: operands, outputs: [output], sourceOpType: record.opType))
      return output
    }
    let size = arithmetic("axis_size", .shape(start: axis, end: axis == -1 ? nil : axis + 1), [x])
    let padded = arithmetic("axis_size_plus", .elementwise(.add), [size, addConstant(Constant(shape: [1], ints: [pieces - 1]), "pieces_minus_one")])
    let chunk = arithmetic("chunk", .elementwise(.div), [padded, addConstant(Constant(shape: [1], ints: [pieces]), "pieces")])
    for i in 0..<pieces {
      let starts = arithmetic("starts\(i)", .elementwise(.mul), [chunk, addConstant(Constant(shape: [1], ints: [i]), "index\(i)")])
      let ends = arithmetic("ends\(i)", .elementwise(.mul), [chunk, addConstant(Constant(shape: [1], ints: [i + 1]), "index\(i + 1)")])
      nodes.append(slice(i, starts: starts, ends: ends))
    }
    return nodes
  }
}
