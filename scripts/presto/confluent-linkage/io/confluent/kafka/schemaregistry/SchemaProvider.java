// Linkage only (see scripts/presto/run.sh): presto-kafka 350 always constructs
// its ConfluentModule, whose method signatures name this Confluent type, even
// when kafka.table-description-supplier=FILE. io.confluent is not on Maven
// Central, so an empty type of the same name lets the class link; the
// CONFLUENT supplier itself is not usable with this build.
package io.confluent.kafka.schemaregistry;

public interface SchemaProvider {}
