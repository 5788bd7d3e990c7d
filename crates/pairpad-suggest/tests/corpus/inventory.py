#!/usr/bin/env python3
"""Small inventory and order service.

Keeps a product catalogue and stock levels in a JSON file, accepts orders,
reserves stock for them and produces a few simple reports. Intended to be
run from the command line; see ``main()`` for the available subcommands.
"""

import argparse
import json
import logging
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Dict, Iterable, List, Optional

log = logging.getLogger("inventory")

DEFAULT_DB_PATH = os.path.join(os.path.expanduser("~"), ".inventory.json")
SKU_PATTERN = re.compile(r"^[A-Z]{3}-\d{4}$")
LOW_STOCK_THRESHOLD = 5


class InventoryError(Exception):
    """Base class for errors raised by the inventory service."""


class UnknownProductError(InventoryError):
    pass


class OutOfStockError(InventoryError):
    def __init__(self, sku: str, requested: int, available: int):
        super().__init__(
            f"not enough stock for {sku}: requested {requested}, have {available}"
        )
        self.sku = sku
        self.requested = requested
        self.available = available


@dataclass
class Product:
    sku: str
    name: str
    price_cents: int
    quantity: int = 0
    tags: List[str] = field(default_factory=list)

    def __post_init__(self):
        if not SKU_PATTERN.match(self.sku):
            raise ValueError(f"invalid SKU {self.sku!r}, expected e.g. ABC-1234")
        if self.price_cents < 0:
            raise ValueError("price cannot be negative")

    @property
    def price(self) -> float:
        return self.price_cents / 100

    def is_low_stock(self, threshold: int = LOW_STOCK_THRESHOLD) -> bool:
        return self.quantity <= threshold


@dataclass
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass
class Order:
    order_id: str
    customer: str
    lines: List[OrderLine] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now().isoformat())
    status: str = "open"

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


class Inventory:
    """In-memory view of the catalogue, backed by a JSON file on disk."""

    def __init__(self, path: str = DEFAULT_DB_PATH):
        self.path = path
        self.products: Dict[str, Product] = {}
        self.orders: Dict[str, Order] = {}
        self._next_order = 1
        self._dirty = False

    def __repr__(self) -> str:
        return (
            f"Inventory(path={self.path!r}, products={len(self.products)}, "
            f"orders={len(self.orders)})"
        )

    # -- persistence -------------------------------------------------------

    def load(self) -> None:
        if not os.path.exists(self.path):
            log.info("no database at %s, starting empty", self.path)
            return
        with open(self.path, "r", encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise InventoryError(f"corrupt database {self.path}: {exc}") from exc

        self.products = {
            item["sku"]: Product(**item) for item in data.get("products", [])
        }
        for raw in data.get("orders", []):
            lines = [OrderLine(**line) for line in raw.pop("lines", [])]
            order = Order(lines=lines, **raw)
            self.orders[order.order_id] = order
        self._next_order = data.get("next_order", len(self.orders) + 1)
        log.debug("loaded %r", self)

    def save(self) -> None:
        if not self._dirty:
            return
        payload = {
            "products": [asdict(p) for p in self.products.values()],
            "orders": [asdict(o) for o in self.orders.values()],
            "next_order": self._next_order,
        }
        tmp_path = self.path + ".tmp"
        with open(tmp_path, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True)
        os.replace(tmp_path, self.path)
        self._dirty = False

    # -- catalogue ---------------------------------------------------------

    def add_product(self, product: Product) -> None:
        if product.sku in self.products:
            raise InventoryError(f"product {product.sku} already exists")
        self.products[product.sku] = product
        self._dirty = True

    def get(self, sku: str) -> Product:
        try:
            return self.products[sku.upper()]
        except KeyError:
            raise UnknownProductError(sku) from None

    def restock(self, sku: str, amount: int) -> int:
        if amount <= 0:
            raise ValueError("restock amount must be positive")
        product = self.get(sku)
        product.quantity += amount
        self._dirty = True
        return product.quantity

    def search(self, term: str) -> List[Product]:
        needle = term.lower()
        return [
            p
            for p in self.products.values()
            if needle in p.name.lower() or needle in (t.lower() for t in p.tags)
        ]

    # -- orders ------------------------------------------------------------

    def place_order(self, customer: str, items: Dict[str, int]) -> Order:
        """Create an order and reserve stock for every line.

        Either the whole order succeeds or nothing is changed.
        """
        if not items:
            raise InventoryError("an order needs at least one item")

        # Validate everything first so a failure leaves stock untouched.
        for sku, qty in items.items():
            product = self.get(sku)
            if qty > product.quantity:
                raise OutOfStockError(sku, qty, product.quantity)

        order_id = f"ORD{self._next_order:05d}"
        order = Order(order_id=order_id, customer=customer)
        for sku, qty in items.items():
            product = self.get(sku)
            product.quantity -= qty
            order.lines.append(OrderLine(product.sku, qty, product.price_cents))

        self.orders[order_id] = order
        self._next_order += 1
        self._dirty = True
        log.info("placed %s for %s (%d lines)", order_id, customer, len(order.lines))
        return order

    def cancel_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise InventoryError(f"no such order: {order_id}")
        if order.status != "open":
            raise InventoryError(f"order {order_id} is already {order.status}")
        for line in order.lines:
            if line.sku in self.products:
                self.products[line.sku].quantity += line.quantity
        order.status = "cancelled"
        self._dirty = True
        return order

    # -- reports -----------------------------------------------------------

    def low_stock(self, threshold: int = LOW_STOCK_THRESHOLD) -> List[Product]:
        items = [p for p in self.products.values() if p.is_low_stock(threshold)]
        return sorted(items, key=lambda p: (p.quantity, p.sku))

    def best_sellers(self, days: int = 30, limit: int = 10) -> List[tuple]:
        cutoff = datetime.now() - timedelta(days=days)
        counts: Counter = Counter()
        for order in self.orders.values():
            if order.status == "cancelled" or order.created() < cutoff:
                continue
            for line in order.lines:
                counts[line.sku] += line.quantity
        return counts.most_common(limit)

    def revenue_by_customer(self) -> Dict[str, int]:
        totals: Dict[str, int] = defaultdict(int)
        for order in self.orders.values():
            if order.status != "cancelled":
                totals[order.customer] += order.total_cents
        return dict(totals)


def parse_items(specs: Iterable[str]) -> Dict[str, int]:
    """Turn ``["ABC-0001=2", "XYZ-0042"]`` into ``{"ABC-0001": 2, "XYZ-0042": 1}``."""
    items: Dict[str, int] = {}
    for spec in specs:
        sku, _, qty = spec.partition("=")
        sku = sku.strip().upper()
        try:
            count = int(qty) if qty else 1
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad quantity in {spec!r}")
        items[sku] = items.get(sku, 0) + count
    return items


def format_money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def print_table(rows: List[List[str]], headers: List[str]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Manage a small inventory.")
    parser.add_argument("--db", default=os.environ.get("INVENTORY_DB", DEFAULT_DB_PATH))
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add", help="add a new product")
    add.add_argument("sku")
    add.add_argument("name")
    add.add_argument("price", type=float, help="unit price in dollars")
    add.add_argument("--qty", type=int, default=0)
    add.add_argument("--tag", action="append", default=[])

    restock = sub.add_parser("restock", help="increase stock for a product")
    restock.add_argument("sku")
    restock.add_argument("amount", type=int)

    order = sub.add_parser("order", help="place an order")
    order.add_argument("customer")
    order.add_argument("items", nargs="+", help="SKU or SKU=QTY")

    cancel = sub.add_parser("cancel", help="cancel an open order")
    cancel.add_argument("order_id")

    sub.add_parser("list", help="list all products")
    low = sub.add_parser("low", help="show products that are running low")
    low.add_argument("--threshold", type=int, default=LOW_STOCK_THRESHOLD)

    report = sub.add_parser("report", help="sales report")
    report.add_argument("--days", type=int, default=30)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )

    inv = Inventory(args.db)
    try:
        inv.load()
        if args.command == "add":
            product = Product(
                sku=args.sku.upper(),
                name=args.name,
                price_cents=round(args.price * 100),
                quantity=args.qty,
                tags=args.tag,
            )
            inv.add_product(product)
            print(f"added {product.sku}")
        elif args.command == "restock":
            remaining = inv.restock(args.sku, args.amount)
            print(f"{args.sku.upper()} now has {remaining} in stock")
        elif args.command == "order":
            order = inv.place_order(args.customer, parse_items(args.items))
            print(f"{order.order_id}: {format_money(order.total_cents)}")
        elif args.command == "cancel":
            order = inv.cancel_order(args.order_id)
            print(f"{order.order_id} cancelled")
        elif args.command == "list":
            rows = [
                [p.sku, p.name, format_money(p.price_cents), str(p.quantity)]
                for p in sorted(inv.products.values(), key=lambda p: p.sku)
            ]
            print_table(rows, ["SKU", "Name", "Price", "Qty"])
        elif args.command == "low":
            for product in inv.low_stock(args.threshold):
                print(f"{product.sku:<10} {product.quantity:>4}  {product.name}")
        elif args.command == "report":
            print(f"Best sellers (last {args.days} days):")
            for sku, qty in inv.best_sellers(days=args.days):
                print(f"  {sku}  {qty}")
            print("Revenue by customer:")
            revenue = inv.revenue_by_customer()
            for customer, cents in sorted(revenue.items(), key=lambda kv: -kv[1]):
                print(f"  {customer:<20} {format_money(cents)}")
        inv.save()
    except InventoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
