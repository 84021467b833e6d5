import Foundation

/// A target function `y = f(x)` written as text, e.g. `sin(pi*x)` or `exp(-x0^2-x1^2)`.
///
/// Grammar: numbers, `+ - * /`, `^` (or `**`, right-associative), parentheses, the variables
/// `x` (= `x0`) and `x0 … x9`, the constants `pi` and `e`, and the functions
/// `sin cos tan asin acos atan sinh cosh tanh exp log sqrt abs sign relu floor ceil` (one
/// argument) and `min max pow atan2` (two).
public struct TargetExpression: Sendable {
    public let text: String
    /// Highest variable index used plus one.
    public let variableCount: Int
    private let root: Node

    indirect enum Node: Sendable {
        case number(Double)
        case variable(Int)
        case unary(String, Node)
        case binary(String, Node, Node)
        case call(String, [Node])
    }

    public init(_ text: String, field: String = "data.target.function") throws {
        var parser = Parser(text: text, field: field)
        root = try parser.parseAll()
        self.text = text
        variableCount = parser.maxVariable + 1
    }

    /// Value at x (missing coordinates read as 0).
    public func evaluate(_ x: [Double]) -> Double { Self.eval(root, x) }

    private static func eval(_ node: Node, _ x: [Double]) -> Double {
        switch node {
        case .number(let v): return v
        case .variable(let k): return k < x.count ? x[k] : 0
        case .unary(_, let a): return -eval(a, x)
        case .binary(let op, let a, let b):
            let u = eval(a, x), v = eval(b, x)
            switch op {
            case "+": return u + v
            case "-": return u - v
            case "*": return u * v
            case "/": return u / v
            default: return Foundation.pow(u, v)
            }
        case .call(let name, let args):
            let v = args.map { eval($0, x) }
            switch name {
            case "sin": return Foundation.sin(v[0])
            case "cos": return Foundation.cos(v[0])
            case "tan": return Foundation.tan(v[0])
            case "asin": return Foundation.asin(v[0])
            case "acos": return Foundation.acos(v[0])
            case "atan": return Foundation.atan(v[0])
            case "sinh": return Foundation.sinh(v[0])
            case "cosh": return Foundation.cosh(v[0])
            case "tanh": return Foundation.tanh(v[0])
            case "exp": return Foundation.exp(v[0])
            case "log": return Foundation.log(v[0])
            case "sqrt": return v[0].squareRoot()
            case "abs": return Swift.abs(v[0])
            case "sign": return v[0] > 0 ? 1 : (v[0] < 0 ? -1 : 0)
            case "relu": return Swift.max(v[0], 0)
            case "floor": return Foundation.floor(v[0])
            case "ceil": return Foundation.ceil(v[0])
            case "min": return Swift.min(v[0], v[1])
            case "max": return Swift.max(v[0], v[1])
            case "pow": return Foundation.pow(v[0], v[1])
            default: return Foundation.atan2(v[0], v[1])
            }
        }
    }

    static let arity: [String: Int] = [
        "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1, "sinh": 1, "cosh": 1, "tanh": 1,
        "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "sign": 1, "relu": 1, "floor": 1, "ceil": 1,
        "min": 2, "max": 2, "pow": 2, "atan2": 2,
    ]

    private struct Parser {
        let chars: [Character]
        let field: String
        var pos = 0
        var maxVariable = 0

        init(text: String, field: String) {
            chars = Array(text)
            self.field = field
        }

        func fail(_ what: String) -> InputError {
            InputError(field, "\(what) at character \(pos + 1) of \"\(String(chars))\"")
        }

        /// The characters in `range` as a String, appended one by one (`String(chars[range])`,
        /// generic over the sequence, cost ~0.27 M instructions at its first use; issue 22).
        func text(_ range: Range<Int>) -> String {
            var s = ""
            for k in range { s.append(chars[k]) }
            return s
        }

        mutating func skipSpace() { while pos < chars.count, chars[pos].isWhitespace { pos += 1 } }

        mutating func peek() -> Character? {
            skipSpace()
            return pos < chars.count ? chars[pos] : nil
        }

        mutating func parseAll() throws -> Node {
            guard peek() != nil else { throw fail("empty expression") }
            let node = try parseSum()
            if peek() != nil { throw fail("unexpected '\(chars[pos])'") }
            return node
        }

        mutating func parseSum() throws -> Node {
            var node = try parseProduct()
            while let c = peek(), c == "+" || c == "-" {
                pos += 1
                node = .binary(String(c), node, try parseProduct())
            }
            return node
        }

        mutating func parseProduct() throws -> Node {
            var node = try parseUnary()
            while let c = peek(), c == "*" || c == "/" {
                if c == "*", pos + 1 < chars.count, chars[pos + 1] == "*" { break }
                pos += 1
                node = .binary(String(c), node, try parseUnary())
            }
            return node
        }

        mutating func parseUnary() throws -> Node {
            if let c = peek(), c == "-" || c == "+" {
                pos += 1
                let operand = try parseUnary()
                return c == "-" ? .unary("-", operand) : operand
            }
            return try parsePower()
        }

        mutating func parsePower() throws -> Node {
            let base = try parseAtom()
            if let c = peek() {
                if c == "^" {
                    pos += 1
                    return .binary("^", base, try parseUnary())
                }
                if c == "*", pos + 1 < chars.count, chars[pos + 1] == "*" {
                    pos += 2
                    return .binary("^", base, try parseUnary())
                }
            }
            return base
        }

        mutating func parseAtom() throws -> Node {
            guard let c = peek() else { throw fail("expression ends too early") }
            if c == "(" {
                pos += 1
                let node = try parseSum()
                guard peek() == ")" else { throw fail("missing ')'") }
                pos += 1
                return node
            }
            if c.isNumber || c == "." {
                let start = pos
                while pos < chars.count, chars[pos].isNumber || chars[pos] == "." { pos += 1 }
                if pos < chars.count, chars[pos] == "e" || chars[pos] == "E" {
                    var look = pos + 1
                    if look < chars.count, chars[look] == "+" || chars[look] == "-" { look += 1 }
                    if look < chars.count, chars[look].isNumber {
                        pos = look
                        while pos < chars.count, chars[pos].isNumber { pos += 1 }
                    }
                }
                guard let v = Double(text(start..<pos)) else { throw fail("bad number") }
                return .number(v)
            }
            if c.isLetter || c == "_" {
                let start = pos
                while pos < chars.count, chars[pos].isLetter || chars[pos].isNumber || chars[pos] == "_" { pos += 1 }
                let name = text(start..<pos).lowercased()
                if peek() == "(" {
                    guard let n = TargetExpression.arity[name] else { throw fail("unknown function '\(name)'") }
                    pos += 1
                    var args = [try parseSum()]
                    while peek() == "," {
                        pos += 1
                        args.append(try parseSum())
                    }
                    guard peek() == ")" else { throw fail("missing ')' after the arguments of \(name)") }
                    pos += 1
                    guard args.count == n else { throw fail("\(name) takes \(n) argument\(n == 1 ? "" : "s"), got \(args.count)") }
                    return .call(name, args)
                }
                switch name {
                case "x": return .variable(0)
                case "pi": return .number(Double.pi)
                case "e": return .number(M_E)
                default:
                    if name.count >= 2, name.first == "x", let k = Int(name.dropFirst()), k >= 0, k < 10 {
                        maxVariable = Swift.max(maxVariable, k)
                        return .variable(k)
                    }
                    throw fail("unknown name '\(name)' (variables are x, x0 … x9)")
                }
            }
            throw fail("unexpected '\(c)'")
        }
    }
}
