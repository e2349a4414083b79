// Linkage only: see ../SchemaProvider.java.
package io.confluent.kafka.schemaregistry.client;

public interface SchemaRegistryClient {}
