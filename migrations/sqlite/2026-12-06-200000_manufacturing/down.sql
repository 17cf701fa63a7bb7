DROP TABLE manufacturing_decisions;
