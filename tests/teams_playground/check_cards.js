#!/usr/bin/env node
// Parses Adaptive Cards with Microsoft's own library (npm `adaptivecards`, pinned in
// package.json) the way Teams' renderer does, targeting Adaptive Cards 1.5.
// Input: a JSON array of cards on stdin. Output: a JSON array with, for each card, the list
// of problems the parser reports (errors and warnings, parse and validation phases alike).
"use strict";
const AC = require("adaptivecards/dist/adaptivecards.js");

function problems(json) {
  const found = [];
  const context = new AC.SerializationContext(new AC.Version(1, 5));
  const card = new AC.AdaptiveCard();
  try {
    card.parse(json, context);
  } catch (error) {
    return [`parse failed: ${error.message}`];
  }
  for (let i = 0; i < context.eventCount; i++) {
    const event = context.getEventAt(i);
    found.push(`${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  for (const event of card.validateProperties().validationEvents) {
    found.push(`${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  return found;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const cards = JSON.parse(input);
  process.stdout.write(JSON.stringify(cards.map(problems)));
});
