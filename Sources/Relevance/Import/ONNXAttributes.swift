/// Typed, defaulted access to one node's ONNX attributes; a wrong type is a `ModelError`.
struct ONNXAttributes {
  let node: ONNXFile.NodeRecord
  let file: String

  private func fail(_ message: String) -> ModelError {
    ModelError(file: file, node: node.name, opType: node.opType, message)
  }

  func has(_ name: String) -> Bool { node.attributes[name] != nil }

  func int(_ name: String, _ defaultValue: Int) throws -> Int {
    switch node.attributes[name] {
    case nil: return defaultValue
    case .int(let v)?: return v
    default: throw fail("attribute '\(name)' must be an integer")
    }
  }

  func float(_ name: String, _ defaultValue: Float) throws -> Float {
    switch node.attributes[name] {
    case nil: return defaultValue
    case .float(let v)?: return v
    case .int(let v)?: return Float(v)
    default: throw fail("attribute '\(name)' must be a float")
    }
  }

  func string(_ name: String, _ defaultValue: String) throws -> String {
    switch node.attributes[name] {
    case nil: return defaultValue
    case .string(let v)?: return v
    default: throw fail("attribute '\(name)' must be a string")
    }
  }

  func ints(_ name: String) throws -> [Int]? {
    switch node.attributes[name] {
    case nil: return nil
    case .ints(let v)?: return v
    case .int(let v)?: return [v]
    default: throw fail("attribute '\(name)' must be a list of integers")
    }
  }

  func floats(_ name: String) throws -> [Float]? {
    switch node.attributes[name] {
    case nil: return nil
    case .floats(let v)?: return v
    case .float(let v)?: return [v]
    default: throw fail("attribute '\(name)' must be a list of floats")
    }
  }

  func tensor(_ name: String) throws -> Constant? {
    switch node.attributes[name] {
    case nil: return nil
    case .tensor(let t)?: return t
    default: throw fail("attribute '\(name)' must be a tensor")
    }
  }
}
