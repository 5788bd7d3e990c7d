package org.example.library;

import java.time.LocalDate;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A small lending library: members borrow copies of books, return them, and
 * pay a fine when they are late.
 */
public class Library {

    private static final int DEFAULT_LOAN_DAYS = 21;
    private static final int MAX_LOANS_PER_MEMBER = 5;
    private static final long FINE_CENTS_PER_DAY = 25;

    /** Anything that can be put on a shelf and lent out. */
    public interface Lendable {
        String getId();

        String getTitle();

        default int loanDays() {
            return DEFAULT_LOAN_DAYS;
        }
    }

    public static class Book implements Lendable {
        private final String isbn;
        private final String title;
        private final String author;
        private final int year;

        public Book(String isbn, String title, String author, int year) {
            this.isbn = Objects.requireNonNull(isbn, "isbn");
            this.title = Objects.requireNonNull(title, "title");
            this.author = author;
            this.year = year;
        }

        @Override
        public String getId() {
            return isbn;
        }

        @Override
        public String getTitle() {
            return title;
        }

        public String getAuthor() {
            return author;
        }

        public int getYear() {
            return year;
        }

        @Override
        public String toString() {
            return String.format("%s by %s (%d)", title, author, year);
        }
    }

    /** DVDs go out for a shorter period than books. */
    public static class Dvd implements Lendable {
        private final String id;
        private final String title;
        private final int minutes;

        public Dvd(String id, String title, int minutes) {
            this.id = id;
            this.title = title;
            this.minutes = minutes;
        }

        @Override
        public String getId() {
            return id;
        }

        @Override
        public String getTitle() {
            return title;
        }

        @Override
        public int loanDays() {
            return 7;
        }

        @Override
        public String toString() {
            return title + " [DVD, " + minutes + " min]";
        }
    }

    public static class Member {
        private final int number;
        private final String name;
        private final String email;

        public Member(int number, String name, String email) {
            this.number = number;
            this.name = name;
            this.email = email;
        }

        public int getNumber() {
            return number;
        }

        public String getName() {
            return name;
        }

        public String getEmail() {
            return email;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof Member)) {
                return false;
            }
            return number == ((Member) o).number;
        }

        @Override
        public int hashCode() {
            return Integer.hashCode(number);
        }
    }

    public static class Loan {
        private final Lendable item;
        private final Member member;
        private final LocalDate borrowedOn;
        private final LocalDate dueOn;
        private LocalDate returnedOn;

        Loan(Lendable item, Member member, LocalDate borrowedOn) {
            this.item = item;
            this.member = member;
            this.borrowedOn = borrowedOn;
            this.dueOn = borrowedOn.plusDays(item.loanDays());
        }

        public boolean isOpen() {
            return returnedOn == null;
        }

        public boolean isOverdue(LocalDate today) {
            return isOpen() && today.isAfter(dueOn);
        }

        public long daysLate(LocalDate asOf) {
            LocalDate end = returnedOn != null ? returnedOn : asOf;
            return Math.max(0, ChronoUnit.DAYS.between(dueOn, end));
        }

        public Lendable getItem() {
            return item;
        }

        public Member getMember() {
            return member;
        }

        public LocalDate getDueOn() {
            return dueOn;
        }

        public LocalDate getBorrowedOn() {
            return borrowedOn;
        }
    }

    public static class LibraryException extends Exception {
        public LibraryException(String message) {
            super(message);
        }
    }

    private final Map<String, Lendable> catalogue = new LinkedHashMap<>();
    private final Map<Integer, Member> members = new HashMap<>();
    private final List<Loan> loans = new ArrayList<>();
    private int nextMemberNumber = 1000;

    public void addItem(Lendable item) {
        if (catalogue.putIfAbsent(item.getId(), item) != null) {
            throw new IllegalArgumentException("Duplicate item id: " + item.getId());
        }
    }

    public Member register(String name, String email) {
        if (email == null || !email.contains("@")) {
            throw new IllegalArgumentException("A valid email is required");
        }
        Member member = new Member(nextMemberNumber++, name.trim(), email.toLowerCase());
        members.put(member.getNumber(), member);
        return member;
    }

    public Optional<Lendable> findById(String id) {
        return Optional.ofNullable(catalogue.get(id));
    }

    public List<Book> findByAuthor(String author) {
        String needle = author.toLowerCase();
        return catalogue.values().stream()
                .filter(Book.class::isInstance)
                .map(Book.class::cast)
                .filter(b -> b.getAuthor() != null && b.getAuthor().toLowerCase().contains(needle))
                .sorted(Comparator.comparingInt(Book::getYear))
                .collect(Collectors.toList());
    }

    private Optional<Loan> openLoanFor(String itemId) {
        return loans.stream()
                .filter(Loan::isOpen)
                .filter(l -> l.getItem().getId().equals(itemId))
                .findFirst();
    }

    public boolean isAvailable(String itemId) {
        return catalogue.containsKey(itemId) && openLoanFor(itemId).isEmpty();
    }

    public Loan borrow(int memberNumber, String itemId, LocalDate today) throws LibraryException {
        Member member = members.get(memberNumber);
        if (member == null) {
            throw new LibraryException("Unknown member #" + memberNumber);
        }
        Lendable item = findById(itemId)
                .orElseThrow(() -> new LibraryException("No item with id " + itemId));

        if (openLoanFor(itemId).isPresent()) {
            throw new LibraryException("'" + item.getTitle() + "' is already on loan");
        }
        List<Loan> current = loansFor(member);
        if (current.size() >= MAX_LOANS_PER_MEMBER) {
            throw new LibraryException(member.getName() + " has reached the loan limit");
        }
        if (current.stream().anyMatch(l -> l.isOverdue(today))) {
            throw new LibraryException(member.getName() + " has overdue items");
        }

        Loan loan = new Loan(item, member, today);
        loans.add(loan);
        return loan;
    }

    /** Returns the item and the fine owed, in cents. */
    public long giveBack(String itemId, LocalDate today) throws LibraryException {
        Loan loan = openLoanFor(itemId)
                .orElseThrow(() -> new LibraryException("Item " + itemId + " is not on loan"));
        loan.returnedOn = today;
        return loan.daysLate(today) * FINE_CENTS_PER_DAY;
    }

    public List<Loan> loansFor(Member member) {
        return loans.stream()
                .filter(l -> l.isOpen() && l.getMember().equals(member))
                .collect(Collectors.toList());
    }

    public List<Loan> overdue(LocalDate today) {
        List<Loan> result = loans.stream()
                .filter(l -> l.isOverdue(today))
                .sorted(Comparator.comparing(Loan::getDueOn))
                .collect(Collectors.toList());
        return Collections.unmodifiableList(result);
    }

    public Map<String, Long> popularTitles(int limit) {
        Map<String, Long> counts = loans.stream()
                .collect(Collectors.groupingBy(l -> l.getItem().getTitle(), Collectors.counting()));
        return counts.entrySet().stream()
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .limit(limit)
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue,
                        (a, b) -> a, LinkedHashMap::new));
    }

    public String overdueReport(LocalDate today) {
        StringBuilder sb = new StringBuilder();
        sb.append("Overdue items as of ").append(today).append('\n');
        List<Loan> late = overdue(today);
        if (late.isEmpty()) {
            sb.append("  (none)\n");
            return sb.toString();
        }
        for (Loan loan : late) {
            long days = loan.daysLate(today);
            sb.append(String.format("  %-30s %-20s %3d days  $%d.%02d%n",
                    loan.getItem().getTitle(),
                    loan.getMember().getName(),
                    days,
                    days * FINE_CENTS_PER_DAY / 100,
                    days * FINE_CENTS_PER_DAY % 100));
        }
        return sb.toString();
    }

    public static void main(String[] args) {
        Library library = new Library();
        library.addItem(new Book("978-0134685991", "Effective Java", "Joshua Bloch", 2018));
        library.addItem(new Book("978-0321356680", "Java Concurrency in Practice", "Brian Goetz", 2006));
        library.addItem(new Book("978-0201633610", "Design Patterns", "Erich Gamma", 1994));
        library.addItem(new Dvd("DVD-0001", "The Matrix", 136));

        Member alice = library.register("Alice Moreau", "alice@example.org");
        Member bob = library.register("Bob Lindqvist", "Bob@Example.org");

        LocalDate start = LocalDate.of(2024, 3, 1);
        try {
            library.borrow(alice.getNumber(), "978-0134685991", start);
            library.borrow(alice.getNumber(), "DVD-0001", start);
            library.borrow(bob.getNumber(), "978-0201633610", start.plusDays(2));
            library.borrow(bob.getNumber(), "978-0134685991", start.plusDays(3));
        } catch (LibraryException e) {
            System.out.println("Could not lend: " + e.getMessage());
        }

        LocalDate later = start.plusDays(30);
        System.out.print(library.overdueReport(later));

        try {
            long fine = library.giveBack("DVD-0001", later);
            System.out.println("Alice owes " + fine + " cents for the DVD");
        } catch (LibraryException e) {
            System.err.println(e.getMessage());
        }

        System.out.println("Books by Goetz: " + library.findByAuthor("goetz"));
        System.out.println("Design Patterns available? " + library.isAvailable("978-0201633610"));
        library.popularTitles(3).forEach((title, count) ->
                System.out.println("  " + title + ": " + count));
    }
}
