/// Training data of SPEC §1: m points `x_j ∈ R^d` with targets `y_j`.
///
/// Coincident points (x_j = x_k) share one switching surface per neuron (SPEC §4),
/// so the flow works on *surface groups*: the distinct points, each with its
/// multiplicity and the sum of its targets. Everything exported is per point.
public struct Dataset: Sendable, Equatable {
    /// Input dimension d.
    public let dimension: Int
    /// Points, m×d row-major.
    public let x: [Double]
    /// Targets, m.
    public let y: [Double]

    /// Distinct points, G×d row-major.
    public let groupPoints: [Double]
    /// Group of every point (m entries, values 0..<G).
    public let groupOfPoint: [Int]
    /// Points of every group, in increasing index order; the first is the group's representative.
    public let pointsOfGroup: [[Int]]

    public var count: Int { y.count }
    public var groupCount: Int { pointsOfGroup.count }

    /// Builds the data set; `field` names the config entry for error messages.
    public init(x rows: [[Double]], y: [Double], field: String = "data") throws {
        guard !rows.isEmpty else { throw InputError("\(field).x", "no data points (m must be at least 1)") }
        guard rows.count == y.count else {
            throw InputError("\(field).y", "has \(y.count) targets but \(field).x has \(rows.count) points")
        }
        let d = rows[0].count
        guard d >= 1 else { throw InputError("\(field).x[0]", "a point needs at least one coordinate") }
        var flat: [Double] = []
        flat.reserveCapacity(rows.count * d)
        for (j, row) in rows.enumerated() {
            guard row.count == d else {
                throw InputError("\(field).x[\(j)]", "has \(row.count) coordinates, expected \(d) like \(field).x[0]")
            }
            for (k, v) in row.enumerated() where !v.isFinite {
                throw InputError("\(field).x[\(j)][\(k)]", "is not a finite number")
            }
            flat.append(contentsOf: row)
        }
        for (j, v) in y.enumerated() where !v.isFinite {
            throw InputError("\(field).y[\(j)]", "is not a finite number")
        }
        self.dimension = d
        self.x = flat
        self.y = y
        var index: [[Double]: Int] = [:]
        var groupOf: [Int] = []
        var members: [[Int]] = []
        var points: [Double] = []
        for (j, row) in rows.enumerated() {
            // -0.0 and 0.0 are the same point.
            let key = row.map { $0 == 0 ? 0 : $0 }
            if let g = index[key] {
                groupOf.append(g)
                members[g].append(j)
            } else {
                index[key] = members.count
                groupOf.append(members.count)
                members.append([j])
                points.append(contentsOf: key)
            }
        }
        self.groupOfPoint = groupOf
        self.pointsOfGroup = members
        self.groupPoints = points
    }

    /// Point j as an array of d coordinates.
    public func point(_ j: Int) -> [Double] { Array(x[(j * dimension)..<((j + 1) * dimension)]) }

    /// Points as m rows of d coordinates.
    public var rows: [[Double]] { (0..<count).map(point) }

    /// A per-pair array over n neurons × m points (row-major by neuron) reduced to n × G groups,
    /// taking each group's first point (coincident points share one surface, so their pairs agree).
    public func perGroup<T>(_ perPoint: [T], width n: Int) -> [T] {
        precondition(perPoint.count == n * count)
        return (0..<(n * groupCount)).map { perPoint[($0 / groupCount) * count + pointsOfGroup[$0 % groupCount][0]] }
    }
}
