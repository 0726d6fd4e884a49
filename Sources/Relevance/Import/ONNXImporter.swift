/// Turns a decoded ONNX model into a `Graph`: one IR node per ONNX node, attributes
/// resolved with ONNX defaults for opsets 7 to 21, constants (initializers and Constant
/// nodes) gathered in `Graph.constants`, nodes sorted topologically.
public enum ONNXImporter {
  /// ONNX operators the importer understands (default domain).
  public static let supportedOperators = (structuralOperators + ActivationRegistry.onnxNames + OperatorRegistry.onnxNames).sorted()
  /// Operators with a case in the importer's switch (activations come from `ActivationRegistry`,
  /// registered ops from `OperatorRegistry`).
  static let structuralOperators = [
    "Add", "AveragePool", "BatchNormalization", "Cast", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Div", "Dropout", "Flatten", "Gather", "Gemm",
    "GlobalAveragePool", "GlobalMaxPool", "Identity", "MatMul", "MaxPool", "Mul", "Pad",
    "ReduceMean", "Reshape", "Shape", "Slice", "Softmax", "Split", "Squeeze", "Sub", "Transpose", "Unsqueeze",
  ]
  public static let testedOpsets = 7...21

  /// Reads the ONNX file at `path` into a graph. Errors name the file, the node and the reason.
  public static func load(path: String) throws -> Graph {
    try importModel(ONNXFile(path: path))
  }

  static func importModel(_ file: ONNXFile) throws -> Graph {
    let path = file.path
    guard let opset = file.opsetVersion else {
      throw ModelError(file: path, "declares no opset for the default ONNX domain")
    }
    guard opset >= testedOpsets.lowerBound else {
      throw ModelError(file: path, "opset \(opset) is older than clrp supports (\(testedOpsets.lowerBound) to \(testedOpsets.upperBound)); convert it with onnx.version_converter")
    }
    var constants = file.initializers
    let graphInputs = file.inputs.filter { constants[$0.name] == nil }
    guard graphInputs.count == 1, let input = graphInputs.first else {
      let names = graphInputs.map { "'\($0.name)'" }.joined(separator: ", ")
      throw ModelError(file: path, graphInputs.isEmpty
        ? "the graph has no input" : "the graph has \(graphInputs.count) inputs (\(names)); clrp explains models with one image input")
    }
    guard input.elementType == 0 || input.elementType == ONNXDataType.float else {
      throw ModelError(file: path, "input '\(input.name)' is \(ONNXDataType.name(input.elementType)); clrp needs a float32 input")
    }
    guard let dims = input.dims else {
      throw ModelError(file: path, "input '\(input.name)' declares no shape; clrp needs its rank and non-batch sizes")
    }
    let fixedSizes = dims.compactMap { if case .fixed(let n) = $0 { return n } else { return nil } }
    guard fixedSizes.allSatisfy({ $0 > 0 }), plausibleElementCount(fixedSizes) != nil else {
      throw ModelError(file: path, "input '\(input.name)' declares the invalid shape \(dims); sizes must be positive")
    }
    let budget = MemoryBudget.current
    guard budget.allows(Estimate.bytes(fixedSizes, 4)) else {
      throw ModelError(file: path, budget.refusal("one image for input '\(input.name)' of declared shape \(dims)", needs: Estimate.bytes(fixedSizes, 4)))
    }

    var nodes: [Node] = []
    var splitRequirements: [String: SplitRequirement] = [:]
    for record in try DecomposedLocalResponseNorm.rewrite(file) {
      let attributes = ONNXAttributes(node: record, file: path)
      func fail(_ message: String) -> ModelError {
        ModelError(file: path, node: record.name, opType: record.opType, message)
      }
      guard record.domain.isEmpty || record.domain == "ai.onnx" else {
        throw fail("operators of domain '\(record.domain)' are not supported; supported (default domain): \(supportedOperators.joined(separator: ", "))")
      }
      guard !record.outputs.isEmpty else { throw fail("node has no outputs") }
      var inputs = record.inputs
      while let last = inputs.last, last.isEmpty { inputs.removeLast() }

      func freshName(_ suffix: String) -> ValueName {
        var name = "\(record.name)::\(suffix)"
        while constants[name] != nil { name += "_" }
        return name
      }
      func addConstant(_ constant: Constant, suffix: String) -> ValueName {
        let name = freshName(suffix)
        constants[name] = constant
        return name
      }
      func knownConstant(_ index: Int) -> Constant? {
        index < inputs.count && !inputs[index].isEmpty ? constants[inputs[index]] : nil
      }

      let op: Op
      switch record.opType {
      case "Constant":
        constants[record.outputs[0]] = try constantValue(attributes, fail: fail)
        continue
      case "Conv":
        var kernel = try attributes.ints("kernel_shape")
        if kernel == nil, let weight = knownConstant(1), weight.shape.count >= 3 {
          kernel = Array(weight.shape.dropFirst(2))
        }
        guard let kernel else { throw fail("no kernel_shape and no constant weight to infer it from") }
        let (window, autoPad) = try windowAttributes(attributes, kernel: kernel, fail: fail)
        op = .conv(Conv2D(window: window, group: try attributes.int("group", 1), autoPad: autoPad))
      case "ConvTranspose":
        var kernel = try attributes.ints("kernel_shape")
        if kernel == nil, let weight = knownConstant(1), weight.shape.count >= 3 { kernel = Array(weight.shape.dropFirst(2)) }
        guard let kernel else { throw fail("no kernel_shape and no constant weight to infer it from") }
        let (window, autoPad) = try windowAttributes(attributes, kernel: kernel, fail: fail)
        guard autoPad == .explicit else { throw fail("auto_pad '\(autoPad.rawValue)' is not supported for ConvTranspose; give pads") }
        guard try attributes.ints("output_shape") == nil else { throw fail("the 'output_shape' attribute is not supported; give pads and output_padding") }
        let outputPadding = try attributes.ints("output_padding") ?? [0, 0]
        guard outputPadding.count == 2, outputPadding.allSatisfy({ $0 >= 0 }) else {
          throw fail("output_padding \(outputPadding) must be two non-negative numbers")
        }
        op = .convTranspose(ConvTranspose2D(window: window, group: try attributes.int("group", 1), outputPadding: outputPadding))
      case "MaxPool", "AveragePool":
        guard let kernel = try attributes.ints("kernel_shape") else { throw fail("missing kernel_shape") }
        let (window, autoPad) = try windowAttributes(attributes, kernel: kernel, pooling: true, fail: fail)
        if record.opType == "MaxPool" {
          if try attributes.int("storage_order", 0) != 0 { throw fail("storage_order=1 (column major) is not supported") }
          op = .maxPool(Pool2D(window: window, autoPad: autoPad, countIncludePad: false))
        } else {
          op = .avgPool(Pool2D(window: window, autoPad: autoPad,
                               countIncludePad: try attributes.int("count_include_pad", 0) != 0))
        }
      case "GlobalAveragePool": op = .globalAvgPool
      case "GlobalMaxPool": op = .globalMaxPool
      case "BatchNormalization":
        guard inputs.count == 5 else { throw fail("expects 5 inputs (x, scale, B, mean, var), has \(inputs.count)") }
        if try attributes.int("training_mode", 0) != 0 { throw fail("training_mode=1 is not supported; export the model in eval mode") }
        op = .batchNorm(epsilon: try attributes.float("epsilon", 1e-5))
      case "Gemm":
        op = .gemm(GemmParameters(alpha: try attributes.float("alpha", 1), beta: try attributes.float("beta", 1),
                                  transA: try attributes.int("transA", 0) != 0, transB: try attributes.int("transB", 0) != 0))
      case "MatMul": op = .matMul
      case "Add": op = .elementwise(.add)
      case "Sub": op = .elementwise(.sub)
      case "Mul": op = .elementwise(.mul)
      case "Div": op = .elementwise(.div)
      case _ where ActivationRegistry.type(onnx: record.opType) != nil:
        guard !inputs.isEmpty, !inputs[0].isEmpty else { throw fail("has no input") }
        let function = ActivationRegistry.type(onnx: record.opType)!
        let context = ONNXNodeContext(opType: record.opType, attributes: attributes, opset: opset, inputs: inputs, constants: constants, fail: fail)
        op = .activation(Activation(try function.importing(context)))
        inputs = [inputs[0]]
      case _ where OperatorRegistry.type(onnx: record.opType) != nil:
        let definition = OperatorRegistry.type(onnx: record.opType)!
        var context = ONNXNodeContext(opType: record.opType, attributes: attributes, opset: opset, inputs: inputs, constants: constants, fail: fail)
        context.outputs = record.outputs
        context.name = record.name
        let imported = try definition.importing(context)
        (op, inputs) = (imported.op, imported.inputs)
        constants.merge(imported.constants) { _, new in new }
      case "Concat":
        guard attributes.has("axis") else { throw fail("missing attribute 'axis'") }
        op = .concat(axis: try attributes.int("axis", 1))
      case "Flatten": op = .flatten(axis: try attributes.int("axis", 1))
      case "Reshape":
        op = .reshape(allowZero: try attributes.int("allowzero", 0) != 0)
      case "Transpose":
        op = .transpose(perm: try attributes.ints("perm") ?? [])
      case "Squeeze": op = .squeeze(axes: try attributes.ints("axes"))
      case "Unsqueeze": op = .unsqueeze(axes: try attributes.ints("axes"))
      case "Pad":
        let mode = try attributes.string("mode", "constant")
        guard mode == "constant" else { throw fail("pad mode '\(mode)' is not supported (only 'constant')") }
        if opset < 11 {
          guard let pads = try attributes.ints("pads") else { throw fail("missing attribute 'pads'") }
          inputs = [inputs[0], addConstant(Constant(shape: [pads.count], ints: pads), suffix: "pads"),
                    addConstant(Constant(shape: [], floats: [try attributes.float("value", 0)]), suffix: "value")]
        } else if inputs.count > 3 {
          throw fail("the 'axes' input (opset 18) is not supported")
        }
        op = .pad
      case "Dropout":
        // Opset 12+: inputs (data, ratio?, training_mode?). In training mode Dropout zeroes a
        // random ratio of its input and scales the rest; only ratio 0 leaves it the identity.
        if opset >= 12, inputs.count > 2, !inputs[2].isEmpty {
          guard let training = knownConstant(2) else {
            throw fail("training_mode '\(inputs[2])' is not a constant; clrp runs inference graphs (export the model in eval mode)")
          }
          if training.ints.contains(where: { $0 != 0 }) {
            let ratio = inputs.count > 1 && !inputs[1].isEmpty ? knownConstant(1)?.floats : [0.5]
            if ratio != [0] {
              throw fail("training_mode=true is not supported: it drops input values at random; export the model in eval mode")
            }
          }
        }
        inputs = [inputs[0]]
        op = .dropout
      case "Identity":
        // The Identity of a constant is that constant (torch writes shared parameters, such as
        // a PRelu slope used twice, as Identity nodes of one initializer).
        if let c = knownConstant(0) {
          constants[record.outputs[0]] = c
          continue
        }
        op = .identity
      case "Softmax": op = .softmax(axis: try attributes.int("axis", opset < 13 ? 1 : -1))
      case "Shape": op = .shape(start: try attributes.int("start", 0), end: attributes.has("end") ? try attributes.int("end", 0) : nil)
      case "Gather": op = .gather(axis: try attributes.int("axis", 0))
      case "Slice":
        if opset < 10 {
          guard let starts = try attributes.ints("starts"), let ends = try attributes.ints("ends") else {
            throw fail("missing attribute 'starts' or 'ends'")
          }
          inputs = [inputs[0], addConstant(Constant(shape: [starts.count], ints: starts), suffix: "starts"),
                    addConstant(Constant(shape: [ends.count], ints: ends), suffix: "ends")]
          if let axes = try attributes.ints("axes") {
            inputs.append(addConstant(Constant(shape: [axes.count], ints: axes), suffix: "axes"))
          }
        }
        op = .slice
      case "Split":
        let split = SplitAsSlices(record: record, opset: opset, attributes: attributes, inputs: inputs, fail: fail,
                                  addConstant: { addConstant($0, suffix: $1) }, freshName: freshName)
        let (splitNodes, requirement) = try split.lowered(knownConstant: knownConstant)
        nodes += splitNodes
        for piece in splitNodes where piece.op == .slice { splitRequirements[piece.name] = requirement }
        continue
      case "Cast":
        let to = try attributes.int("to", 0)
        let floatTypes = [ONNXDataType.float, ONNXDataType.double, ONNXDataType.float16, ONNXDataType.bfloat16]
        let intTypes = [ONNXDataType.int64, ONNXDataType.int32, ONNXDataType.int16, ONNXDataType.int8,
                        ONNXDataType.uint8, ONNXDataType.uint16, ONNXDataType.uint32, ONNXDataType.uint64, ONNXDataType.bool]
        guard floatTypes.contains(to) || intTypes.contains(to) else {
          throw fail("cast to \(ONNXDataType.name(to)) is not supported")
        }
        op = .cast(toFloat: floatTypes.contains(to))
      case "ReduceMean":
        op = .reduceMean(axes: try attributes.ints("axes"), keepDims: try attributes.int("keepdims", 1) != 0,
                         noopWithEmptyAxes: try attributes.int("noop_with_empty_axes", 0) != 0)
      case "ConstantOfShape":
        op = .constantOfShape(value: try attributes.tensor("value") ?? Constant(shape: [1], floats: [0]))
      default:
        throw fail("operator '\(record.opType)' is not supported; supported: \(supportedOperators.joined(separator: ", "))")
      }
      nodes.append(Node(name: record.name, op: op, inputs: inputs, outputs: record.outputs, sourceOpType: record.opType))
    }

    var graph = Graph(
      name: file.graphName, source: path, input: input.name, declaredInputShape: dims,
      outputs: file.outputs.map(\.name), nodes: nodes, constants: constants,
      opsetVersion: opset, producer: file.producer)
    graph.metadata = file.metadata
    graph.splitRequirements = splitRequirements
    if opset > testedOpsets.upperBound {
      graph.notes.append("opset \(opset) is newer than the opsets clrp is tested with (\(testedOpsets.lowerBound) to \(testedOpsets.upperBound))")
    }
    try sortTopologically(&graph)
    return graph
  }

  /// ONNX Conv/pool window attributes; ONNX pads are [top, left, bottom, right] for 2-D.
  /// For pooling, each pad must be smaller than the kernel along its axis (as onnxruntime
  /// requires: a window made only of padding has no value).
  private static func windowAttributes(_ a: ONNXAttributes, kernel: [Int], pooling: Bool = false,
                                       fail: (String) -> ModelError) throws -> (Window2D, AutoPad) {
    guard kernel.count == 2 else {
      throw fail("only 2-D windows are supported, kernel_shape is \(kernel)")
    }
    let strides = try a.ints("strides") ?? [1, 1]
    let dilations = try a.ints("dilations") ?? [1, 1]
    let pads = try a.ints("pads") ?? [0, 0, 0, 0]
    guard strides.count == 2, dilations.count == 2, pads.count == 4 else {
      throw fail("strides, dilations and pads must have 2, 2 and 4 entries for a 2-D window")
    }
    guard kernel.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }),
          pads.allSatisfy({ $0 >= 0 }), (kernel + strides + dilations + pads).allSatisfy({ $0 <= 1 << 20 }) else {
      throw fail("kernel \(kernel), strides \(strides), dilations \(dilations) must be positive and pads \(pads) non-negative (and all below 2^20)")
    }
    if pooling {
      for (i, pad) in pads.enumerated() where pad >= kernel[i % 2] {
        throw fail("pads \(pads) must be smaller than the kernel \(kernel) along each axis (pad \(pad) >= kernel \(kernel[i % 2]))")
      }
    }
    let autoPadName = try a.string("auto_pad", "NOTSET")
    guard let autoPad = AutoPad(rawValue: autoPadName) else { throw fail("unknown auto_pad '\(autoPadName)'") }
    let window = Window2D(
      kernelH: kernel[0], kernelW: kernel[1], strideH: strides[0], strideW: strides[1],
      dilationH: dilations[0], dilationW: dilations[1],
      padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3],
      ceilMode: try a.int("ceil_mode", 0) != 0)
    return (window, autoPad)
  }

  private static func constantValue(_ a: ONNXAttributes, fail: (String) -> ModelError) throws -> Constant {
    if let t = try a.tensor("value") { return t }
    if a.has("value_float") { return Constant(shape: [], floats: [try a.float("value_float", 0)]) }
    if let v = try a.floats("value_floats") { return Constant(shape: [v.count], floats: v) }
    if a.has("value_int") { return Constant(shape: [], ints: [try a.int("value_int", 0)]) }
    if let v = try a.ints("value_ints") { return Constant(shape: [v.count], ints: v) }
    throw fail("only tensor, float and integer constants are supported")
  }

  /// Orders nodes so that each comes after the producers of its inputs; reports values that
  /// nothing produces and cycles.
  static func sortTopologically(_ graph: inout Graph) throws {
    var available = Set(graph.constants.keys).union([graph.input, ""])
    var remaining = graph.nodes
    var sorted: [Node] = []
    sorted.reserveCapacity(remaining.count)
    let produced = Set(remaining.flatMap(\.outputs))
    for node in remaining {
      for input in node.inputs where !available.contains(input) && !produced.contains(input) {
        throw graph.error(node, "input '\(input)' is not produced by any node, initializer or graph input")
      }
    }
    while !remaining.isEmpty {
      var next: [Node] = []
      for node in remaining {
        if node.inputs.allSatisfy(available.contains) {
          sorted.append(node)
          available.formUnion(node.outputs)
        } else {
          next.append(node)
        }
      }
      if next.count == remaining.count {
        throw graph.error(next[0], "the graph has a cycle through this node")
      }
      remaining = next
    }
    graph.nodes = sorted
    for output in graph.outputs where !available.contains(output) {
      throw ModelError(file: graph.source, "graph output '\(output)' is not produced by any node")
    }
  }
}
