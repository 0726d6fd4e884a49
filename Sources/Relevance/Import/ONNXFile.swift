import Foundation
import ONNXProto

/// An ONNX model decoded into plain Swift values: the only place that touches protobuf-c.
///
/// Decoding copies what the importer needs (nodes, attributes, tensors, input/output
/// declarations) and frees the C message; nothing here interprets operators.
struct ONNXFile {
  struct Attribute {
    enum Value {
      case int(Int)
      case float(Float)
      case string(String)
      case ints([Int])
      case floats([Float])
      case strings([String])
      case tensor(Constant)
      /// A subgraph (If's branches): its nodes and output names; its own initializers and
      /// declared inputs are not decoded (exporters' branches hold neither).
      case graph(Subgraph)
      /// Lists of subgraphs, sparse tensors, type protos: recognised, never used by supported ops.
      case other(String)
    }
    var name: String
    var value: Value
  }

  struct NodeRecord {
    var name: String
    var opType: String
    var domain: String
    var inputs: [String]
    var outputs: [String]
    var attributes: [String: Attribute.Value]
  }

  /// A decoded subgraph attribute (GraphProto): nodes in file order, output names.
  struct Subgraph {
    var nodes: [NodeRecord]
    var outputs: [String]
    /// Number of initializers the subgraph declares (clrp does not decode them).
    var initializerCount: Int
  }

  struct ValueRecord {
    var name: String
    /// ONNX TensorProto.DataType of the element, 0 when undeclared.
    var elementType: Int
    var dims: [Dimension]?
  }

  var path: String
  var opsetVersion: Int?
  var producer: String
  /// The model's `metadata_props` (key → value).
  var metadata: [String: String] = [:]
  var graphName: String
  var nodes: [NodeRecord]
  var initializers: [String: Constant]
  var inputs: [ValueRecord]
  var outputs: [ValueRecord]

  /// Reads and decodes `path`; every failure is a `ModelError` naming the file.
  init(path: String) throws {
    self.path = path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ModelError(file: path, "no such file")
    }
    guard !isDirectory.boolValue else { throw ModelError(file: path, "is a directory, not an ONNX file") }
    // The file mapping is released as soon as protobuf-c has copied what it holds, so that a
    // large model is never resident three times (mapping, message, decoded tensors).
    let message: UnsafeMutablePointer<Onnx__ModelProto>? = try {
      let bytes: Data
      do {
        bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
      } catch {
        throw ModelError(file: path, "cannot be read: \(error.localizedDescription)")
      }
      guard !bytes.isEmpty else { throw ModelError(file: path, "is empty") }
      return bytes.withUnsafeBytes { raw in
        onnx__model_proto__unpack(nil, raw.count, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
    }()
    guard let message else {
      throw ModelError(file: path, "is not a valid ONNX model: the protobuf does not decode (truncated or corrupted file?)")
    }
    defer { onnx__model_proto__free_unpacked(message, nil) }
    let model = message.pointee

    producer = [string(model.producer_name), string(model.producer_version)]
      .filter { !$0.isEmpty }.joined(separator: " ")
    for i in 0..<model.n_metadata_props {
      guard let entry = model.metadata_props[i]?.pointee else { continue }
      metadata[string(entry.key)] = string(entry.value)
    }
    var opset: Int?
    for i in 0..<model.n_opset_import {
      let entry = model.opset_import[i]!.pointee
      let domain = string(entry.domain)
      if domain.isEmpty || domain == "ai.onnx" { opset = Int(entry.version) }
    }
    opsetVersion = opset
    guard let graphPointer = model.graph else {
      throw ModelError(file: path, "is not a valid ONNX model: it holds no graph (truncated file?)")
    }
    let graph = graphPointer.pointee
    graphName = string(graph.name)
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
    var externalFiles = ExternalDataFiles(directory: directory, modelPath: path)

    var initializers: [String: Constant] = [:]
    for i in 0..<graph.n_initializer {
      let proto = graph.initializer[i]!
      let name = string(proto.pointee.name)
      do {
        initializers[name] = try decodeTensor(proto, external: &externalFiles)
        // The decoded copy is all that is needed: free the message's bytes now, not at the end.
        if proto.pointee.raw_data.data != nil {
          free(proto.pointee.raw_data.data)
          proto.pointee.raw_data.data = nil
          proto.pointee.raw_data.len = 0
        }
      } catch let error as ModelError {
        throw ModelError(file: path, "initializer '\(name)': \(error.message)")
      }
    }
    self.initializers = initializers

    var usedNames: Set<String> = []
    self.nodes = try decodeNodes(graph, file: path, usedNames: &usedNames, external: &externalFiles)
    inputs = (0..<graph.n_input).map { decodeValueInfo(graph.input[$0]!) }
    outputs = (0..<graph.n_output).map { decodeValueInfo(graph.output[$0]!) }
  }
}

// MARK: - Decoding helpers

private func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
  pointer.map { String(cString: $0) } ?? ""
}

private func strings(_ array: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int) -> [String] {
  (0..<count).map { string(array![$0]) }
}

private func bytesString(_ data: ProtobufCBinaryData) -> String {
  guard data.len > 0, let base = data.data else { return "" }
  return String(decoding: UnsafeBufferPointer(start: base, count: data.len), as: UTF8.self)
}

private func decodeValueInfo(_ pointer: UnsafeMutablePointer<Onnx__ValueInfoProto>) -> ONNXFile.ValueRecord {
  let info = pointer.pointee
  var elementType = 0
  var dims: [Dimension]?
  if let type = info.type, type.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
     let tensorType = type.pointee.tensor_type {
    elementType = tensorType.pointee.has_elem_type != 0 ? Int(tensorType.pointee.elem_type) : 0
    if let shape = tensorType.pointee.shape {
      dims = (0..<shape.pointee.n_dim).map { d in
        let dim = shape.pointee.dim[d]!.pointee
        switch dim.value_case {
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: return .fixed(Int(dim.dim_value))
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM: return .symbolic(string(dim.dim_param))
        default: return .symbolic("")
        }
      }
    }
  }
  return ONNXFile.ValueRecord(name: string(info.name), elementType: elementType, dims: dims)
}

/// The nodes of `graph`, names made unique across the model (`usedNames`, shared with
/// subgraphs so that a branch's nodes never shadow the main graph's in messages).
private func decodeNodes(_ graph: Onnx__GraphProto, file path: String, usedNames: inout Set<String>,
                         external: inout ExternalDataFiles) throws -> [ONNXFile.NodeRecord] {
  var nodes: [ONNXFile.NodeRecord] = []
  for i in 0..<graph.n_node {
    let node = graph.node[i]!.pointee
    let opType = string(node.op_type)
    var name = string(node.name)
    if name.isEmpty { name = "\(opType.isEmpty ? "node" : opType)_\(i)" }
    // Node names identify nodes in messages, rule globs and traces: make them unique.
    if usedNames.contains(name) {
      var k = 2
      while usedNames.contains("\(name)_\(k)") { k += 1 }
      name = "\(name)_\(k)"
    }
    usedNames.insert(name)
    var attributes: [String: ONNXFile.Attribute.Value] = [:]
    for a in 0..<node.n_attribute {
      let attribute = node.attribute[a]!
      do {
        let decoded = try decodeAttribute(attribute, file: path, usedNames: &usedNames, external: &external)
        attributes[decoded.name] = decoded.value
      } catch let error as ModelError {
        throw ModelError(file: path, node: name, opType: opType, error.message)
      }
    }
    nodes.append(ONNXFile.NodeRecord(
      name: name, opType: opType, domain: string(node.domain),
      inputs: strings(node.input, node.n_input), outputs: strings(node.output, node.n_output),
      attributes: attributes))
  }
  return nodes
}

/// AttributeProto's `g`, a GraphProto (If's branches).
private func decodeSubgraph(_ a: Onnx__AttributeProto, file path: String, usedNames: inout Set<String>,
                            external: inout ExternalDataFiles) throws -> ONNXFile.Subgraph {
  guard let message = a.g else {
    throw ModelError("attribute '\(string(a.name))' is declared a graph but holds none")
  }
  let graph = message.pointee
  let nodes = try decodeNodes(graph, file: path, usedNames: &usedNames, external: &external)
  return ONNXFile.Subgraph(nodes: nodes, outputs: (0..<graph.n_output).map { string(graph.output[$0]!.pointee.name) },
                          initializerCount: Int(graph.n_initializer))
}

private func decodeAttribute(_ pointer: UnsafeMutablePointer<Onnx__AttributeProto>, file path: String,
                             usedNames: inout Set<String>, external: inout ExternalDataFiles) throws -> ONNXFile.Attribute {
  let a = pointer.pointee
  let name = string(a.name)
  // Files older than IR version 2 may omit `type`; infer it from the field that is set.
  var type = a.has_type != 0 ? a.type : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
  if type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED {
    if a.n_ints > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS }
    else if a.n_floats > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS }
    else if a.n_strings > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS }
    else if a.t != nil { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR }
    else if a.g != nil { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH }
    else if a.has_s != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING }
    else if a.has_f != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT }
    else if a.has_i != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT }
  }
  let value: ONNXFile.Attribute.Value
  switch type {
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: value = .int(Int(a.i))
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: value = .float(a.f)
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: value = .string(bytesString(a.s))
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: value = .ints((0..<a.n_ints).map { Int(a.ints[$0]) })
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: value = .floats((0..<a.n_floats).map { a.floats[$0] })
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
    value = .strings((0..<a.n_strings).map { bytesString(a.strings[$0]) })
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
    guard let t = a.t else { throw ModelError("attribute '\(name)' is declared a tensor but holds none") }
    do { value = .tensor(try decodeTensor(t, external: &external)) } catch let error as ModelError {
      throw ModelError("attribute '\(name)': \(error.message)")
    }
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    value = .graph(try decodeSubgraph(a, file: path, usedNames: &usedNames, external: &external))
  default: value = .other("attribute type \(type.rawValue)")
  }
  return ONNXFile.Attribute(name: name, value: value)
}

/// ONNX TensorProto.DataType numbers clrp decodes.
enum ONNXDataType {
  static let float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7,
    string = 8, bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

  static func name(_ type: Int) -> String {
    let names = [1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
                 8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64",
                 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
    return names[type] ?? "type \(type)"
  }
}

/// Decodes a TensorProto from `raw_data`, the typed `*_data` fields, or external data.
/// Float-like types become float constants, integer and bool types integer constants.
private func decodeTensor(_ pointer: UnsafeMutablePointer<Onnx__TensorProto>,
                          external: inout ExternalDataFiles) throws -> Constant {
  let t = pointer.pointee
  let dims = (0..<t.n_dims).map { Int(t.dims[$0]) }
  guard dims.allSatisfy({ $0 >= 0 }) else { throw ModelError("negative dimension in shape \(dims)") }
  // (The product is checked for overflow: a wrapped product could pass a bound and then trap.)
  let product = dims.reduce((1, false)) { acc, d in
    let (p, overflow) = acc.0.multipliedReportingOverflow(by: d)
    return (p, acc.1 || overflow)
  }
  guard dims.allSatisfy({ $0 < 1 << 32 }), !product.1, product.0 < 1 << 34
  else { throw ModelError("implausible shape \(dims)") }
  let type = t.has_data_type != 0 ? Int(t.data_type) : 0
  let isExternal = t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL

  if isExternal {
    var entries: [String: String] = [:]
    for i in 0..<t.n_external_data {
      let e = t.external_data[i]!.pointee
      entries[string(e.key)] = string(e.value)
    }
    return try external.withBytes(entries) { try decodeTensor(t, dims: dims, type: type, raw: $0) }
  }
  let raw = t.has_raw_data != 0 ? UnsafeRawBufferPointer(start: t.raw_data.data, count: t.raw_data.len) : nil
  return try decodeTensor(t, dims: dims, type: type, raw: raw)
}

/// Decodes the values of `t` from `raw` (raw_data or external bytes) or its typed fields.
private func decodeTensor(_ t: Onnx__TensorProto, dims: [Int], type: Int, raw: UnsafeRawBufferPointer?) throws -> Constant {
  let count = dims.elementCount
  func fromRaw<T>(_: T.Type) throws -> [T]? {
    guard let raw else { return nil }
    guard raw.count == count * MemoryLayout<T>.size else {
      throw ModelError("\(ONNXDataType.name(type)) tensor of shape \(dims) needs \(count * MemoryLayout<T>.size) bytes, raw data has \(raw.count)")
    }
    guard count > 0, let base = raw.baseAddress else { return [] }
    return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
      memcpy(buffer.baseAddress!, base, count * MemoryLayout<T>.size)
      initialized = count
    }
  }
  func checked<T>(_ values: [T], field: String) throws -> [T] {
    guard values.count == count else {
      throw ModelError("tensor of shape \(dims) needs \(count) values, \(field) has \(values.count)")
    }
    return values
  }

  switch type {
  case ONNXDataType.float:
    if let v = try fromRaw(Float.self) { return Constant(shape: dims, floats: v) }
    return Constant(shape: dims, floats: try checked((0..<t.n_float_data).map { t.float_data[$0] }, field: "float_data"))
  case ONNXDataType.double:
    if let v = try fromRaw(Double.self) { return Constant(shape: dims, floats: v.map { Float($0) }) }
    return Constant(shape: dims, floats: try checked((0..<t.n_double_data).map { Float(t.double_data[$0]) }, field: "double_data"))
  case ONNXDataType.float16:
    if let v = try fromRaw(UInt16.self) { return Constant(shape: dims, floats: v.map(halfToFloat)) }
    return Constant(shape: dims, floats: try checked((0..<t.n_int32_data).map { halfToFloat(UInt16(truncatingIfNeeded: t.int32_data[$0])) }, field: "int32_data"))
  case ONNXDataType.int64:
    if let v = try fromRaw(Int64.self) { return Constant(shape: dims, ints: v.map { Int($0) }) }
    return Constant(shape: dims, ints: try checked((0..<t.n_int64_data).map { Int(t.int64_data[$0]) }, field: "int64_data"))
  case ONNXDataType.uint64, ONNXDataType.uint32:
    if type == ONNXDataType.uint32, let v = try fromRaw(UInt32.self) { return Constant(shape: dims, ints: v.map { Int($0) }) }
    if type == ONNXDataType.uint64, let v = try fromRaw(UInt64.self) { return Constant(shape: dims, ints: v.map { Int(truncatingIfNeeded: $0) }) }
    return Constant(shape: dims, ints: try checked((0..<t.n_uint64_data).map { Int(truncatingIfNeeded: t.uint64_data[$0]) }, field: "uint64_data"))
  case ONNXDataType.int32, ONNXDataType.int16, ONNXDataType.int8, ONNXDataType.uint8, ONNXDataType.uint16, ONNXDataType.bool:
    if raw != nil {
      let v: [Int]
      switch type {
      case ONNXDataType.int32: v = try fromRaw(Int32.self)!.map { Int($0) }
      case ONNXDataType.int16: v = try fromRaw(Int16.self)!.map { Int($0) }
      case ONNXDataType.uint16: v = try fromRaw(UInt16.self)!.map { Int($0) }
      case ONNXDataType.int8: v = try fromRaw(Int8.self)!.map { Int($0) }
      default: v = try fromRaw(UInt8.self)!.map { Int($0) }
      }
      return Constant(shape: dims, ints: v)
    }
    return Constant(shape: dims, ints: try checked((0..<t.n_int32_data).map { Int(t.int32_data[$0]) }, field: "int32_data"))
  case 0:
    throw ModelError("tensor has no data type")
  default:
    throw ModelError("tensors of type \(ONNXDataType.name(type)) are not supported (float32/float16/double and integer types are)")
  }
}

/// IEEE 754 half precision bits to Float.
func halfToFloat(_ h: UInt16) -> Float {
  let sign = UInt32(h >> 15) << 31
  let exponent = Int((h >> 10) & 0x1f)
  let mantissa = UInt32(h & 0x3ff)
  if exponent == 0 {
    let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
    return sign == 0 ? magnitude : -magnitude
  }
  if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
  return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// `path` with every symbolic link resolved (realpath); nil when it does not exist.
func resolvedPath(_ path: String) -> String? {
  guard let resolved = realpath(path, nil) else { return nil }
  defer { free(resolved) }
  return String(cString: resolved)
}

/// The files that hold tensors stored outside the model (ONNX external data), mapped once each.
struct ExternalDataFiles {
  var directory: URL
  var modelPath: String
  var mapped: [String: Data] = [:]

  /// Calls `body` with the bytes named by a tensor's `external_data` entries (location,
  /// offset, length), read in place from the mapped file.
  mutating func withBytes<R>(_ entries: [String: String], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    guard let location = entries["location"], !location.isEmpty else {
      throw ModelError("external data without a location")
    }
    guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
      throw ModelError("external data location '\(location)' leaves the model's folder")
    }
    if mapped[location] == nil {
      let url = directory.appendingPathComponent(location)
      // The check above is on the text; a symbolic link inside the folder may still lead out.
      let folder = resolvedPath(directory.path) ?? directory.path
      if let target = resolvedPath(url.path), !target.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") {
        throw ModelError("external data location '\(location)' resolves to '\(target)', outside the model's folder '\(folder)'")
      }
      do {
        mapped[location] = try Data(contentsOf: url, options: .alwaysMapped)
      } catch {
        throw ModelError("external data file '\(url.path)' cannot be read (it must sit next to the model)")
      }
    }
    let data = mapped[location]!
    let offset = Int(entries["offset"] ?? "0") ?? -1
    let length = entries["length"].map { Int($0) ?? -1 } ?? (data.count - max(offset, 0))
    guard offset >= 0, length >= 0, offset <= data.count, length <= data.count - offset else {
      throw ModelError("external data range offset \(offset), length \(length) is outside '\(location)' (\(data.count) bytes)")
    }
    return try data.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
  }
}

extension ONNXFile {
  /// A model given as already decoded values, as if read from `path` (tests build small
  /// ONNX graphs this way, without protobuf).
  init(path: String, opset: Int, nodes: [NodeRecord], initializers: [String: Constant] = [:],
       inputs: [ValueRecord], outputs: [ValueRecord]) {
    self.path = path
    self.opsetVersion = opset
    self.producer = "clrp tests"
    self.graphName = "test"
    self.nodes = nodes
    self.initializers = initializers
    self.inputs = inputs
    self.outputs = outputs
  }
}
