// graph.cpp - a small weighted directed graph with BFS, Dijkstra and
// topological sort. Nodes are addressed by name; internally they are
// mapped to dense integer ids.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace graph {

using NodeId = std::size_t;
using Weight = double;

constexpr Weight kInfinity = std::numeric_limits<Weight>::infinity();

struct Edge {
    NodeId to;
    Weight weight;
};

struct Path {
    std::vector<std::string> nodes;
    Weight cost = 0.0;

    std::string toString() const {
        std::ostringstream out;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            if (i > 0) {
                out << " -> ";
            }
            out << nodes[i];
        }
        out << " (cost " << cost << ")";
        return out.str();
    }
};

class GraphError : public std::runtime_error {
public:
    explicit GraphError(const std::string& what) : std::runtime_error(what) {}
};

class Graph {
public:
    explicit Graph(bool directed = true) : directed_(directed) {}

    NodeId addNode(const std::string& name) {
        auto it = ids_.find(name);
        if (it != ids_.end()) {
            return it->second;
        }
        NodeId id = names_.size();
        names_.push_back(name);
        adjacency_.emplace_back();
        ids_.emplace(name, id);
        return id;
    }

    void addEdge(const std::string& from, const std::string& to, Weight weight = 1.0) {
        if (weight < 0) {
            throw GraphError("negative weight on edge " + from + " -> " + to);
        }
        NodeId a = addNode(from);
        NodeId b = addNode(to);
        adjacency_[a].push_back({b, weight});
        if (!directed_) {
            adjacency_[b].push_back({a, weight});
        }
        ++edgeCount_;
    }

    std::optional<NodeId> find(const std::string& name) const {
        auto it = ids_.find(name);
        if (it == ids_.end()) {
            return std::nullopt;
        }
        return it->second;
    }

    const std::string& name(NodeId id) const { return names_.at(id); }
    std::size_t nodeCount() const { return names_.size(); }
    std::size_t edgeCount() const { return edgeCount_; }
    bool directed() const { return directed_; }

    const std::vector<Edge>& neighbors(NodeId id) const { return adjacency_.at(id); }

    // Breadth-first traversal from `start`, returning node names in visit order.
    std::vector<std::string> bfs(const std::string& start) const {
        std::vector<std::string> order;
        auto source = find(start);
        if (!source) {
            return order;
        }

        std::vector<bool> seen(nodeCount(), false);
        std::queue<NodeId> pending;
        pending.push(*source);
        seen[*source] = true;

        while (!pending.empty()) {
            NodeId current = pending.front();
            pending.pop();
            order.push_back(names_[current]);
            for (const Edge& edge : adjacency_[current]) {
                if (!seen[edge.to]) {
                    seen[edge.to] = true;
                    pending.push(edge.to);
                }
            }
        }
        return order;
    }

    // Fewest-hops path, ignoring weights.
    std::optional<Path> shortestHops(const std::string& from, const std::string& to) const {
        auto source = find(from);
        auto target = find(to);
        if (!source || !target) {
            return std::nullopt;
        }

        std::vector<std::optional<NodeId>> parent(nodeCount());
        std::vector<bool> seen(nodeCount(), false);
        std::queue<NodeId> pending;
        pending.push(*source);
        seen[*source] = true;

        while (!pending.empty()) {
            NodeId current = pending.front();
            pending.pop();
            if (current == *target) {
                break;
            }
            for (const auto& [next, weight] : adjacency_[current]) {
                (void)weight;
                if (!seen[next]) {
                    seen[next] = true;
                    parent[next] = current;
                    pending.push(next);
                }
            }
        }

        if (!seen[*target]) {
            return std::nullopt;
        }
        Path path = buildPath(parent, *target);
        path.cost = static_cast<Weight>(path.nodes.size() - 1);
        return path;
    }

    // Dijkstra's algorithm. Returns std::nullopt if `to` is unreachable.
    std::optional<Path> dijkstra(const std::string& from, const std::string& to) const {
        auto source = find(from);
        auto target = find(to);
        if (!source || !target) {
            return std::nullopt;
        }

        std::vector<Weight> dist(nodeCount(), kInfinity);
        std::vector<std::optional<NodeId>> parent(nodeCount());
        using Item = std::pair<Weight, NodeId>;
        std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;

        dist[*source] = 0.0;
        heap.emplace(0.0, *source);

        while (!heap.empty()) {
            auto [d, current] = heap.top();
            heap.pop();
            if (d > dist[current]) {
                continue;  // stale entry
            }
            if (current == *target) {
                break;
            }
            for (const Edge& edge : adjacency_[current]) {
                Weight candidate = d + edge.weight;
                if (candidate < dist[edge.to]) {
                    dist[edge.to] = candidate;
                    parent[edge.to] = current;
                    heap.emplace(candidate, edge.to);
                }
            }
        }

        if (dist[*target] == kInfinity) {
            return std::nullopt;
        }
        Path path = buildPath(parent, *target);
        path.cost = dist[*target];
        return path;
    }

    // Kahn's algorithm. Throws GraphError if the graph has a cycle.
    std::vector<std::string> topologicalSort() const {
        if (!directed_) {
            throw GraphError("topological sort needs a directed graph");
        }
        std::vector<int> inDegree(nodeCount(), 0);
        for (const auto& edges : adjacency_) {
            for (const Edge& edge : edges) {
                ++inDegree[edge.to];
            }
        }

        std::queue<NodeId> ready;
        for (NodeId id = 0; id < nodeCount(); ++id) {
            if (inDegree[id] == 0) {
                ready.push(id);
            }
        }

        std::vector<std::string> order;
        order.reserve(nodeCount());
        while (!ready.empty()) {
            NodeId current = ready.front();
            ready.pop();
            order.push_back(names_[current]);
            for (const Edge& edge : adjacency_[current]) {
                if (--inDegree[edge.to] == 0) {
                    ready.push(edge.to);
                }
            }
        }

        if (order.size() != nodeCount()) {
            throw GraphError("graph contains a cycle");
        }
        return order;
    }

    // Nodes that cannot be reached from `start`.
    std::vector<std::string> unreachableFrom(const std::string& start) const {
        auto visited = bfs(start);
        std::unordered_set<std::string> seen(visited.begin(), visited.end());
        std::vector<std::string> result;
        std::copy_if(names_.begin(), names_.end(), std::back_inserter(result),
                     [&seen](const std::string& n) { return seen.count(n) == 0; });
        return result;
    }

private:
    Path buildPath(const std::vector<std::optional<NodeId>>& parent, NodeId target) const {
        Path path;
        std::optional<NodeId> step = target;
        while (step) {
            path.nodes.push_back(names_[*step]);
            step = parent[*step];
        }
        std::reverse(path.nodes.begin(), path.nodes.end());
        return path;
    }

    bool directed_;
    std::size_t edgeCount_ = 0;
    std::vector<std::string> names_;
    std::vector<std::vector<Edge>> adjacency_;
    std::unordered_map<std::string, NodeId> ids_;
};

// Parses lines of the form "from to weight"; blank lines and '#' comments
// are skipped.
Graph parseEdgeList(std::istream& in, bool directed = true) {
    Graph g(directed);
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        auto hash = line.find('#');
        if (hash != std::string::npos) {
            line.erase(hash);
        }
        std::istringstream fields(line);
        std::string from, to;
        Weight weight = 1.0;
        if (!(fields >> from)) {
            continue;
        }
        if (!(fields >> to)) {
            throw GraphError("line " + std::to_string(lineNo) + ": missing target node");
        }
        if (!(fields >> weight)) {
            weight = 1.0;
        }
        g.addEdge(from, to, weight);
    }
    return g;
}

}  // namespace graph

namespace {

void printList(const std::string& label, const std::vector<std::string>& items) {
    std::cout << label << ":";
    for (const auto& item : items) {
        std::cout << ' ' << item;
    }
    std::cout << '\n';
}

}  // namespace

int main() {
    const std::string input = R"(
        # city roads, distances in km
        Amsterdam Utrecht   45
        Amsterdam Haarlem   20
        Haarlem   Leiden    32
        Utrecht   Arnhem    64
        Leiden    DenHaag   17
        Utrecht   DenHaag   62
        DenHaag   Rotterdam 24
        Rotterdam Breda     50
        Arnhem    Nijmegen  19
        Breda     Nijmegen  110
    )";

    try {
        std::istringstream in(input);
        graph::Graph roads = graph::parseEdgeList(in);
        std::cout << "nodes: " << roads.nodeCount() << ", edges: " << roads.edgeCount() << '\n';

        printList("BFS from Amsterdam", roads.bfs("Amsterdam"));
        printList("Topological order", roads.topologicalSort());
        printList("Unreachable from Utrecht", roads.unreachableFrom("Utrecht"));

        const std::vector<std::pair<std::string, std::string>> queries = {
            {"Amsterdam", "Rotterdam"},
            {"Amsterdam", "Nijmegen"},
            {"Breda", "Amsterdam"},
        };
        for (const auto& [from, to] : queries) {
            if (auto path = roads.dijkstra(from, to)) {
                std::cout << "shortest " << from << " -> " << to << ": " << path->toString() << '\n';
            } else {
                std::cout << "no route from " << from << " to " << to << '\n';
            }
            if (auto hops = roads.shortestHops(from, to)) {
                std::cout << "  fewest hops: " << hops->toString() << '\n';
            }
        }

        roads.addEdge("Nijmegen", "Amsterdam", 120);
        roads.topologicalSort();
    } catch (const graph::GraphError& e) {
        std::cerr << "graph error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
